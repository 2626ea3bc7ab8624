/// One `[[dkim.sign]]` entry of a policy file: sign mail whose From domain
/// is `domain` (or a subdomain, when `subdomains`) with the key at `keyPath`
/// under `selector` (RFC 6376; issue #13). The key itself is read by the
/// loader (to report a bad file) and when the listener's policy is built.
public struct DKIMSignRule: Sendable, Equatable {
    public var domain: String
    public var selector: String
    public var keyPath: String
    public var subdomains = false
    /// x= is the signing time plus this; nil writes no x=.
    public var expirySeconds: Int?

    public init(domain: String, selector: String, keyPath: String) {
        self.domain = domain
        self.selector = selector
        self.keyPath = keyPath
    }
}
