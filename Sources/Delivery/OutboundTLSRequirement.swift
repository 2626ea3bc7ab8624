import MTASTS

/// The TLS one destination demands, decided before connecting. Per
/// destination the strongest available source applies: DANE (validated
/// TLSA records, RFC 7672) > MTA-STS enforce (RFC 8461) > MTA-STS testing or
/// the configured `[delivery] tls`. Only MX delivery has MTA-STS; a
/// relayhost or a `[delivery.routes]` next hop keeps its configured policy.
public enum OutboundTLSRequirement: Sendable, Hashable {
    /// `[delivery] tls` / `relay_tls`: none, opportunistic or required, not verified.
    case configured(TLSPolicy)
    /// MTA-STS testing (§5): deliver as configured; log what enforce would refuse.
    case mtaSTSTesting(MTASTSPolicy)
    /// MTA-STS enforce (§4, §5): only MX hosts the policy names, over TLS
    /// whose certificate verifies for the MX host name; else defer.
    case mtaSTSEnforce(MTASTSPolicy)
    /// DANE (RFC 7672) for one MX host: usable, validated TLSA records. Chosen per
    /// hop by `DeliveryAgent.applyDANE`, which sets `ClientOptions.dane`; STARTTLS
    /// is mandatory and any failure defers, never retried unverified or in plaintext.
    case dane

    /// The strongest of what is known for a destination.
    public static func decide(configured: TLSPolicy, mtaSTS: MTASTSPolicy?) -> OutboundTLSRequirement {
        switch mtaSTS?.mode {
        case .enforce?: return .mtaSTSEnforce(mtaSTS!)
        case .testing?: return .mtaSTSTesting(mtaSTS!)
        case .none?, nil: return .configured(configured)
        }
    }

    /// For the delivery log line's `tls_policy`.
    public var label: String {
        switch self {
        case .configured(let policy): return policy.rawValue
        case .mtaSTSTesting: return "mta-sts-testing"
        case .mtaSTSEnforce: return "mta-sts-enforce"
        case .dane: return "dane"
        }
    }

    /// RFC 8461 §4.1: whether an MX host may be tried at all.
    public func admits(mxHost host: String) -> Bool {
        if case .mtaSTSEnforce(let policy) = self { return policy.allows(mxHost: host) }
        return true
    }

    /// Testing mode: the MX host enforce would have passed over, for the log.
    public func wouldRefuse(mxHost host: String) -> Bool {
        if case .mtaSTSTesting(let policy) = self { return !policy.allows(mxHost: host) }
        return false
    }

    /// Whether the certificate is checked on the first try. Under enforce a
    /// failure defers; under testing it is logged and the hop is tried
    /// again unverified, as configured.
    public var verifiesCertificate: Bool {
        switch self {
        case .configured: return false
        case .mtaSTSTesting, .mtaSTSEnforce, .dane: return true
        }
    }

    /// The session options towards MX `host`. Enforce demands STARTTLS and a
    /// certificate valid for `host` (§4.2); with `.required` and `.full`
    /// `SMTPConnection.open` never falls back to plaintext.
    public func options(_ base: ClientOptions, host: String, trustRootsFile: String?) -> ClientOptions {
        var options = base
        switch self {
        case .configured:
            return options
        case .dane:
            options.tlsPolicy = .required
            return options
        case .mtaSTSTesting:
            options.verify = .full
        case .mtaSTSEnforce:
            options.tlsPolicy = .required
            options.verify = .full
        }
        options.trustRootsFile = trustRootsFile
        options.tlsServerName = host
        return options
    }

    /// Pooled connections are reused only under the same requirement: a
    /// connection opened unverified must not carry mail a policy protects.
    func poolKey(_ key: String, host: String) -> String {
        switch self {
        case .configured: return key
        case .mtaSTSTesting, .mtaSTSEnforce, .dane: return "\(key) \(label) \(host.lowercased())"
        }
    }

    /// Why enforce has no host left to try (RFC 3463 4.7.x text for the queue).
    func noAdmittedHost(domain: String, hosts: [String]) -> String {
        guard case .mtaSTSEnforce(let policy) = self else { return "no next hop" }
        return "MTA-STS policy of \(domain) (enforce): no MX host (\(hosts.joined(separator: ", "))) matches its mx: "
            + policy.mx.map(\.description).joined(separator: ", ")
    }
}
