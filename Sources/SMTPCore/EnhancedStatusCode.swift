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
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let k = UInt8(parts[0]), [2, 4, 5].contains(k),
              let s = UInt16(parts[1]), s < 1000, let d = UInt16(parts[2]), d < 1000 else { return nil }
        self.init(k, s, d)
    }
}
