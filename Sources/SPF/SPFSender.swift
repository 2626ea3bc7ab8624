/// The `<sender>` of `check_host()`: a local-part and a domain
/// ([RFC 7208 §4.3](https://www.rfc-editor.org/rfc/rfc7208#section-4.3)).
public struct SPFSender: Sendable, Hashable, CustomStringConvertible {
    public var localPart: String
    public var domain: String

    public init(localPart: String, domain: String) {
        self.localPart = localPart.isEmpty ? "postmaster" : localPart
        self.domain = domain
    }

    /// Splits a MAIL FROM address at its last `@`. An empty local-part becomes
    /// `postmaster` (§4.3); text without `@` is taken as a domain.
    public init(address: String) {
        var text = Substring(address)
        if text.hasPrefix("<") && text.hasSuffix(">") && text.count >= 2 { text = text.dropFirst().dropLast() }
        if let at = text.lastIndex(of: "@") {
            self.init(localPart: String(text[..<at]), domain: String(text[text.index(after: at)...]))
        } else {
            self.init(localPart: "", domain: String(text))
        }
    }

    /// `local-part@domain`.
    public var description: String { "\(localPart)@\(domain)" }
}
