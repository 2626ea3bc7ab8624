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
    /// The SMTP AUTH identity (RFC 4954 §7 leaves it to the server whether
    /// to say; an intranet relay's operator wants to know who sent).
    public var authenticatedUser: String?

    public init(helo: String?, reverseName: String?, clientIP: String, byHost: String,
                withProtocol: String, id: String, forRecipient: String?, date: Date, authenticatedUser: String? = nil) {
        self.authenticatedUser = authenticatedUser
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
        let literal = clientIP.utf8.contains(UInt8(ascii: ":")) ? "IPv6:\(clientIP)" : clientIP
        // From-domain must be a Domain or an address literal (§4.4); a HELO
        // that is neither is replaced by the client's address literal (the
        // name is still in the envelope and the log).
        let from = helo.flatMap { Self.isDomainOrLiteral($0) ? $0 : nil } ?? "[\(literal)]"
        var text = "Received: from \(from) "
            + "(\(Self.sanitize(reverseName ?? "unknown")) [\(literal)])\r\n"
            + "\tby \(byHost) with \(withProtocol)"
            + (authenticatedUser.map { " (authenticated as \(Self.sanitize($0)))" } ?? "") + " id \(id)"
        if let forRecipient {
            text += "\r\n\tfor <\(Self.sanitizePath(forRecipient))>"
        }
        text += "; \(MessageDate.string(from: date))\r\n"
        return text
    }

    /// Domain = sub-domain *("." sub-domain), Let-dig [Ldh-str] each, or a
    /// bracketed address literal (RFC 5321 §4.1.2).
    static func isDomainOrLiteral(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        if bytes.first == UInt8(ascii: "[") {
            return bytes.last == UInt8(ascii: "]") && bytes.count > 2
                && bytes.dropFirst().dropLast().allSatisfy { (33...90).contains($0) || (94...126).contains($0) }
        }
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard let first = label.first, let last = label.last, label.count <= 63,
                  first != UInt8(ascii: "-"), last != UInt8(ascii: "-"),
                  label.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "-") }) else { return false }
        }
        return true
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A)
    }

    /// The recipient was parsed as an RFC 5321 path already, so its quoting
    /// is sound and must stay as it is (a quoted local part may hold `\"`,
    /// `<` or `;`); only controls, which no valid path holds, are replaced.
    static func sanitizePath(_ text: String) -> String {
        // Every octet of a control is below 0x80: clean text is checked by octets.
        if text.utf8.count <= 600, !text.utf8.contains(where: { isControl(UInt32($0)) }) { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.prefix(600).map { isControl($0.value) ? "_" : $0 }))
    }

    /// Client-supplied words must not break the header: drop controls,
    /// parentheses, angle brackets and ';' that would end a comment, a path
    /// or the clause list (RFC 5321 §4.4).
    static func sanitize(_ text: String) -> String {
        // The replaced characters are all ASCII: clean text is checked by octets.
        if text.utf8.count <= 255, !text.utf8.contains(where: { isUnsafeInComment(UInt32($0)) }) { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.prefix(255).map { isUnsafeInComment($0.value) ? "_" : $0 }))
    }

    private static func isControl(_ value: UInt32) -> Bool {
        value < 0x20 || value == 0x7F
    }

    private static func isUnsafeInComment(_ value: UInt32) -> Bool {
        switch value {
        case 0x28, 0x29, 0x3C, 0x3E, 0x5C, 0x3B: true // ( ) < > \ ;
        default: isControl(value)
        }
    }
}
