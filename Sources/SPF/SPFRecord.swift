import DNSModel

/// A parsed SPF record ([RFC 7208 §4.6](https://www.rfc-editor.org/rfc/rfc7208#section-4.6)).
struct SPFRecord: Sendable, Hashable {
    var directives: [SPFDirective] = []
    /// `redirect=` (§6.1), at most one.
    var redirect: MacroString?
    /// `exp=` (§6.2), at most one.
    var explanation: MacroString?
}

/// `directive = [ qualifier ] mechanism`.
struct SPFDirective: Sendable, Hashable {
    var qualifier: SPFQualifier
    var mechanism: SPFMechanism
    /// The term as written in the record, for `SPFResult.decidedBy`.
    var text: String
}

/// `qualifier = "+" / "-" / "?" / "~"`; none means `+`.
enum SPFQualifier: Character, Sendable, Hashable {
    case pass = "+"
    case fail = "-"
    case softfail = "~"
    case neutral = "?"

    var verdict: SPFVerdict {
        switch self {
        case .pass: return .pass
        case .fail: return .fail
        case .softfail: return .softfail
        case .neutral: return .neutral
        }
    }
}

/// The eight mechanisms of §5.
enum SPFMechanism: Sendable, Hashable {
    case all
    case include(MacroString)
    case a(MacroString?, DualCIDRLength)
    case mx(MacroString?, DualCIDRLength)
    case ptr(MacroString?)
    case ip4(IPv4Address, prefixLength: Int)
    case ip6(IPv6Address, prefixLength: Int)
    case exists(MacroString)

    /// Whether evaluating it queries DNS, and so counts against the limit of 10 (§4.6.4).
    var queriesDNS: Bool {
        switch self {
        case .all, .ip4, .ip6: return false
        case .include, .a, .mx, .ptr, .exists: return true
        }
    }
}

/// `dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]` (§5.6).
struct DualCIDRLength: Sendable, Hashable {
    var ipv4 = 32
    var ipv6 = 128
}

/// A syntax error in a record: the check ends in permerror (§4.6).
struct SPFSyntaxError: Error, Sendable, Hashable {
    var message: String
}
