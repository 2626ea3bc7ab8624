import NIOCore

/// The cipher suite a server chose, read from its ServerHello as it passes
/// on the wire. swift-nio-ssl reports the negotiated version but not the
/// cipher, and the ServerHello is in the clear in TLS 1.2 and 1.3 alike
/// (RFC 5246 §7.4.1.3, RFC 8446 §4.1.3), so the delivery log gets it here.
struct TLSServerHelloReader {
    enum Result: Equatable {
        /// The IANA cipher suite number.
        case cipher(UInt16)
        /// Not a ServerHello at the start of the first record: give up.
        case unknown
    }

    /// Record header (5) + handshake header (4) + legacy_version (2) +
    /// random (32) + session id length (1) + session id (≤ 32) + suite (2).
    static let maximumNeeded = 78
    private var bytes: [UInt8] = []

    /// Takes the server's next octets; nil until there are enough to tell.
    mutating func feed(_ chunk: ByteBufferView) -> Result? {
        bytes += chunk.prefix(Self.maximumNeeded - bytes.count)
        return Self.parse(bytes)
    }

    static func parse(_ bytes: [UInt8]) -> Result? {
        // TLSPlaintext: type 22 (handshake), version, length.
        guard let type = bytes.first else { return nil }
        guard type == 22 else { return .unknown }
        guard bytes.count >= 9 else { return nil }
        // Handshake: type 2 (server_hello), 24-bit length.
        guard bytes[5] == 2 else { return .unknown }
        let sessionIDLengthAt = 9 + 2 + 32
        guard bytes.count > sessionIDLengthAt else { return nil }
        let sessionIDLength = Int(bytes[sessionIDLengthAt])
        guard sessionIDLength <= 32 else { return .unknown }
        let suiteAt = sessionIDLengthAt + 1 + sessionIDLength
        guard bytes.count >= suiteAt + 2 else { return nil }
        return .cipher(UInt16(bytes[suiteAt]) << 8 | UInt16(bytes[suiteAt + 1]))
    }

    /// The IANA name of the suites BoringSSL offers; others as hex.
    static func name(_ suite: UInt16) -> String {
        switch suite {
        case 0x1301: return "TLS_AES_128_GCM_SHA256"
        case 0x1302: return "TLS_AES_256_GCM_SHA384"
        case 0x1303: return "TLS_CHACHA20_POLY1305_SHA256"
        case 0xC02B: return "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        case 0xC02C: return "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
        case 0xC02F: return "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        case 0xC030: return "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        case 0xCCA8: return "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
        case 0xCCA9: return "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        case 0xC009: return "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        case 0xC00A: return "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        case 0xC013: return "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        case 0xC014: return "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
        case 0x009C: return "TLS_RSA_WITH_AES_128_GCM_SHA256"
        case 0x009D: return "TLS_RSA_WITH_AES_256_GCM_SHA384"
        case 0x002F: return "TLS_RSA_WITH_AES_128_CBC_SHA"
        case 0x0035: return "TLS_RSA_WITH_AES_256_CBC_SHA"
        default:
            let hex = String(suite, radix: 16, uppercase: true)
            return "0x" + String(repeating: "0", count: 4 - hex.count) + hex
        }
    }
}

/// Sits below the TLS handler and passes every octet on untouched, reading
/// the ServerHello's cipher suite on the way; removes itself once it knows.
final class TLSCipherObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var reader = TLSServerHelloReader()
    private(set) var cipher: String?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let result = reader.feed(buffer.readableBytesView) {
            if case .cipher(let suite) = result { cipher = TLSServerHelloReader.name(suite) }
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}
