import NIOCore
import NIOPosix

/// clamd over its socket: `zINSTREAM`, the message as chunks each led by
/// a 4-byte big-endian length, a zero-length chunk to end; one
/// NUL-terminated reply line (clamd's docs, "INSTREAM").
public struct ClamdScanner: ContentScanner {
    public let kind = "clamd"
    public let address: ScannerAddress
    public let timeout: Double
    let group: EventLoopGroup
    /// clamd's StreamMaxLength defaults to 25 MB; chunks far below it.
    static let chunkSize = 64 * 1024

    public init(address: ScannerAddress, timeout: Double, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.address = address
        self.timeout = timeout
        self.group = group
    }

    public func scan(_ request: ScanRequest) async -> ScanVerdict {
        let message = request.message
        do {
            let reply = try await ScannerConnection.exchange(address: address, group: group, timeout: timeout, send: { out in
                // Command, chunks and the end mark share writes: a small
                // message is one write, and clamd wakes once for it.
                var buffer = ByteBuffer(string: "zINSTREAM\0")
                try await message.forEachChunk(size: Self.chunkSize) { chunk in
                    buffer.writeInteger(UInt32(chunk.count), endianness: .big)
                    buffer.writeBytes(chunk)
                    if buffer.readableBytes >= Self.chunkSize {
                        try await out.write(buffer)
                        buffer = ByteBuffer()
                    }
                }
                buffer.writeInteger(UInt32(0), endianness: .big)
                try await out.write(buffer)
            }, isComplete: { $0.last == 0 })
            return Self.verdict(reply: reply)
        } catch {
            return .error("\(error)")
        }
    }

    /// `stream: NAME FOUND`, `stream: OK`, `INSTREAM size limit exceeded.
    /// ERROR`, `… ERROR`.
    static func verdict(reply raw: [UInt8]) -> ScanVerdict {
        var bytes = raw
        while let last = bytes.last, last == 0 || last == UInt8(ascii: "\n") { bytes.removeLast() }
        let text = String(decoding: bytes, as: UTF8.self)
        guard !text.isEmpty else { return .error("clamd closed the connection without an answer") }
        if text.hasPrefix("INSTREAM size limit exceeded") { return .tooLarge("clamd StreamMaxLength exceeded") }
        if text.hasSuffix(" ERROR") { return .error("clamd: \(text)") }
        let body = text.hasPrefix("stream: ") ? text.dropFirst("stream: ".count) : Substring(text)
        if body == "OK" { return .clean }
        if body.hasSuffix(" FOUND") {
            let name = body.dropLast(" FOUND".count)
            return name.isEmpty ? .error("clamd: \(text)") : .infected(name: String(name))
        }
        return .error("clamd answered \"\(text.prefix(200))\"")
    }

    public func ping() async -> Bool {
        let reply = try? await ScannerConnection.exchange(address: address, group: group, timeout: timeout, send: { out in
            try await out.write(ByteBuffer(string: "zPING\0"))
        }, isComplete: { $0.last == 0 })
        return reply.map { String(decoding: $0.filter { $0 != 0 }, as: UTF8.self) == "PONG" } ?? false
    }
}
