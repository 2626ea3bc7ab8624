import Foundation
import NIOCore
import NIOPosix

/// SpamAssassin's spamd: `SYMBOLS SPAMC/1.5` with Content-length (and
/// User, if configured), the message, then one reply: `SPAMD/1.1 0 EX_OK`,
/// `Spam: True ; 1000.0 / 5.0`, an empty line and the symbols, comma
/// separated (spamd(1p), "PROTOCOL").
public struct SpamdScanner: ContentScanner {
    public let kind = "spamd"
    public let address: ScannerAddress
    public let timeout: Double
    /// spamd's User header: whose preferences apply (spamd -x ignores it).
    public let user: String?
    let group: EventLoopGroup

    public init(address: ScannerAddress, timeout: Double, user: String? = nil,
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.address = address
        self.timeout = timeout
        self.user = user
        self.group = group
    }

    public func scan(_ request: ScanRequest) async -> ScanVerdict {
        let message = request.message
        var head = "SYMBOLS SPAMC/1.5\r\nContent-length: \(message.size)\r\n"
        if let user, !user.isEmpty { head += "User: \(user)\r\n" }
        head += "\r\n"
        do {
            let reply = try await ScannerConnection.exchange(address: address, group: group, timeout: timeout, send: { [head] out in
                try await out.write(ByteBuffer(string: head))
                try await message.forEachChunk(size: 64 * 1024) { try await out.write(ByteBuffer(bytes: $0)) }
            })
            return Self.verdict(reply: reply)
        } catch {
            return .error("\(error)")
        }
    }

    static func verdict(reply: [UInt8]) -> ScanVerdict {
        let text = String(decoding: reply, as: UTF8.self)
        guard !text.isEmpty else { return .error("spamd closed the connection without an answer") }
        let (head, body) = text.range(of: "\r\n\r\n").map { (text[..<$0.lowerBound], text[$0.upperBound...]) }
            ?? (Substring(text), Substring(""))
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        // SPAMD/1.1 0 EX_OK: the code after the version is 0 on success.
        let status = lines.first?.split(separator: " ", maxSplits: 2) ?? []
        guard status.count >= 2, status[0].hasPrefix("SPAMD/") else {
            return .error("spamd answered \"\(text.prefix(120))\"")
        }
        guard status[1] == "0" else { return .error("spamd: \(lines[0])") }
        guard let spamLine = lines.first(where: { $0.lowercased().hasPrefix("spam:") }) else {
            return .error("spamd gave no Spam header")
        }
        // Spam: True ; 1000.0 / 5.0
        let value = spamLine.dropFirst("spam:".count)
        let parts = value.split(separator: ";", maxSplits: 1)
        guard parts.count == 2 else { return .error("spamd: bad \(spamLine)") }
        let flag = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
        let numbers = parts[1].split(separator: "/").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard flag == "true" || flag == "false" || flag == "yes" || flag == "no",
              numbers.count == 2, let score = numbers[0], let threshold = numbers[1],
              SpamReport.isPlausible(score), SpamReport.isPlausible(threshold) else {
            return .error("spamd: bad \(spamLine)")
        }
        let isSpam = flag == "true" || flag == "yes"
        let symbols = body.split(whereSeparator: { $0 == "," || $0.isWhitespace }).filter(SpamReport.isSymbol).map(String.init).sorted()
        return .scored(SpamReport(score: score, threshold: threshold, isSpam: isSpam, symbols: symbols,
                                  action: isSpam ? .addHeader : .noAction))
    }

    public func ping() async -> Bool {
        let reply = try? await ScannerConnection.exchange(address: address, group: group, timeout: timeout, send: { out in
            try await out.write(ByteBuffer(string: "PING SPAMC/1.5\r\n\r\n"))
        })
        return reply.map { String(decoding: $0, as: UTF8.self).contains(" PONG") } ?? false
    }
}
