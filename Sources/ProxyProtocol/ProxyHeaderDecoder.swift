import NIOCore

/// Reads the PROXY protocol header (v1 or v2) a load balancer sends first on
/// a connection it relays (proxy-protocol.txt §2).
public enum ProxyHeaderDecoder {
    /// The most octets a valid header takes (a v2 block with UNIX addresses
    /// and all the TLVs accepted); fewer are all that is ever held waiting.
    public static let maxHeaderLength = max(ProxyProtocolLimits.maxV1LineLength, ProxyHeaderV2.maxLength)

    /// The header at the front of `buffer`, its octets consumed; nil when what
    /// is there is a valid beginning and more must come (nothing consumed).
    /// Throws as soon as the octets cannot begin a valid header, so a caller
    /// holding them while it waits never holds `maxHeaderLength` octets.
    public static func decode(_ buffer: inout ByteBuffer) throws(ProxyHeaderError) -> ProxyHeader? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        let parsed: (header: ProxyHeader, length: Int)?
        // §2.2 "A receiver may be configured to support both versions": the
        // first octet tells them apart ("P" or CR).
        switch first {
        case ProxyHeaderV1.prefix[0]:
            parsed = try ProxyHeaderV1.parse(Array(buffer.readableBytesView.prefix(ProxyProtocolLimits.maxV1LineLength)))
        case ProxyHeaderV2.signature[0]:
            parsed = try ProxyHeaderV2.parse(Array(buffer.readableBytesView.prefix(ProxyHeaderV2.maxLength)))
        default:
            throw .notProxyProtocol
        }
        guard let parsed else { return nil }
        buffer.moveReaderIndex(forwardBy: parsed.length)
        return parsed.header
    }
}

extension Array where Element == UInt8 {
    /// True when the octets so far agree with `expected` (a prefix of it, or it whole).
    func agrees(with expected: [UInt8]) -> Bool {
        zip(self, expected).allSatisfy { $0 == $1 }
    }
}
