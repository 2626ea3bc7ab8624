import Foundation

/// The trace field prepended by every SMTP server that accepts a message
/// (RFC 5321 §4.4), e.g.
///
///     Received: from helo.example (rdns.example [192.0.2.1])
///             by relay.example with ESMTPS id 0005F1A2B3C4D5E6
///             for <rcpt@example.net>; Fri, 27 Nov 2026 21:15:16 +0000
public struct ReceivedHeader: Sendable {
    public var helo: String?
    public var reverseName: String?
    public var clientIP: String
    public var byHost: String
    /// "SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" (RFC 3848).
    public var withProtocol: String
    public var id: String
    /// Only named when there is exactly one recipient, so that Bcc recipients
    /// of a shared message are not revealed to each other.
    public var forRecipient: String?
    public var date: Date

    public init(helo: String?, reverseName: String?, clientIP: String, byHost: String,
                withProtocol: String, id: String, forRecipient: String?, date: Date) {
        self.helo = helo
        self.reverseName = reverseName
        self.clientIP = clientIP
        self.byHost = byHost
        self.withProtocol = withProtocol
        self.id = id
        self.forRecipient = forRecipient
        self.date = date
    }

    /// The whole field, folded, ending in CRLF.
    public func rendered() -> String {
        let literal = clientIP.contains(":") ? "IPv6:\(clientIP)" : clientIP
        var text = "Received: from \(Self.sanitize(helo ?? "unknown")) "
            + "(\(Self.sanitize(reverseName ?? "unknown")) [\(literal)])\r\n"
            + "\tby \(byHost) with \(withProtocol) id \(id)"
        if let forRecipient {
            text += "\r\n\tfor <\(Self.sanitize(forRecipient))>"
        }
        text += "; \(MessageDate.string(from: date))\r\n"
        return text
    }

    /// Client-supplied words must not break the header: drop controls,
    /// parentheses and angle brackets that would end a comment or a path.
    static func sanitize(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(255) {
            switch scalar {
            case "(", ")", "<", ">", "\\": out.unicodeScalars.append("_")
            default:
                out.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "_" : scalar)
            }
        }
        return out
    }
}
