/// One `mx:` line of a policy (RFC 8461 §3.2): a host name, or `*.` and a
/// domain for any host exactly one label below it.
public struct MXPattern: Sendable, Hashable, CustomStringConvertible {
    /// Lowercased, without a trailing dot or the `*.` prefix.
    public let domain: String
    public let isWildcard: Bool

    /// sts-policy-mx-value = ["*."] Domain
    public init?(_ text: String) {
        var value = text.lowercased()
        if value.hasSuffix(".") { value.removeLast() }
        isWildcard = value.hasPrefix("*.")
        if isWildcard { value.removeFirst(2) }
        let labels = value.split(separator: ".", omittingEmptySubsequences: false)
        guard !value.isEmpty, value.utf8.count <= 253, labels.allSatisfy({ label in
            (1...63).contains(label.utf8.count) && label.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        }) else { return nil }
        domain = value
    }

    /// §4.1: case-insensitive; "*.example.com" matches "mx1.example.com" but
    /// neither "example.com" nor "a.b.example.com".
    public func matches(_ host: String) -> Bool {
        var host = host.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        guard isWildcard else { return host == domain }
        guard host.hasSuffix("." + domain) else { return false }
        let first = host.dropLast(domain.count + 1)
        return !first.isEmpty && !first.contains(".")
    }

    public var description: String { isWildcard ? "*." + domain : domain }
}
