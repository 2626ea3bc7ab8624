/// An enhanced mail system status code (RFC 3463), sent on every 2xx, 4xx and
/// 5xx reply except the greeting and the HELO/EHLO replies (RFC 2034 §3).
public struct EnhancedStatusCode: Sendable, Hashable, CustomStringConvertible {
    public var klass: UInt8
    public var subject: UInt16
    public var detail: UInt16

    public init(_ klass: UInt8, _ subject: UInt16, _ detail: UInt16) {
        self.klass = klass
        self.subject = subject
        self.detail = detail
    }

    public var description: String { "\(klass).\(subject).\(detail)" }

    /// Parses "X.Y.Z" (RFC 3463 §2); nil if malformed.
    public init?(_ text: Substring) {
        self.init(octets: text.utf8)
    }

    /// The same from the text's octets. Octet by octet, inlinable so that
    /// callers in other modules get it specialised: every reply of every
    /// delivery passes here (issue #15).
    @inlinable
    public init?(octets: some Sequence<UInt8>) {
        var parts: (UInt16, UInt16, UInt16) = (0, 0, 0)
        var part = 0, digits = 0
        for octet in octets {
            if octet == UInt8(ascii: ".") {
                guard digits > 0, part < 2 else { return nil }
                part += 1
                digits = 0
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(octet) else { return nil }
            let digit = UInt16(octet - UInt8(ascii: "0"))
            digits += 1
            switch part {
            case 0: parts.0 = min(parts.0 * 10 + digit, 1000)
            case 1: parts.1 = min(parts.1 * 10 + digit, 1000)
            default: parts.2 = min(parts.2 * 10 + digit, 1000)
            }
        }
        guard part == 2, digits > 0, [2, 4, 5].contains(parts.0), parts.1 < 1000, parts.2 < 1000 else { return nil }
        self.init(UInt8(parts.0), parts.1, parts.2)
    }
}
