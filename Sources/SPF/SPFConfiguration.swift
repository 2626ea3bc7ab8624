#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The processing limits of [RFC 7208 §4.6.4](https://www.rfc-editor.org/rfc/rfc7208#section-4.6.4),
/// in one place.
public struct SPFLimits: Sendable, Hashable {
    /// Mechanisms and modifiers that query DNS (include, a, mx, ptr, exists, redirect)
    /// per check, includes and redirects counted through; one more is a permerror.
    public var dnsMechanisms = 10
    /// Look-ups answering NXDOMAIN or no data; one more is a permerror.
    public var voidLookups = 2
    /// MX records one `mx` mechanism may examine; more is a permerror.
    public var mxNames = 10
    /// PTR names one `ptr` mechanism or `%{p}` examines; the rest are ignored.
    public var ptrNames = 10
    /// Longest expanded domain name (§7.3): longer ones lose labels on the left.
    public var domainLength = 253

    public init() {}

    public static let rfc7208 = SPFLimits()
}

/// Settings of an `SPFEvaluator`.
public struct SPFConfiguration: Sendable {
    public var limits: SPFLimits
    /// The explanation for a fail when the record has no usable `exp=` (§6.2): an
    /// explain-string, so macros work. Used verbatim if it does not parse.
    public var defaultExplanation: String
    /// `%{r}` (§7.2): the name of the host doing the check.
    public var receivingHost: String
    /// `%{t}`: seconds since the epoch.
    public var timestamp: @Sendable () -> Int64
    /// The longest a whole check may take before it ends in temperror (§4.6.4 asks for
    /// a limit of at least 20 seconds); `nil` for none. Checked between look-ups.
    public var timeLimit: Duration?

    public static let standardExplanation = "%{c} is not one of %{d}'s designated mail servers."

    public init(
        limits: SPFLimits = .rfc7208,
        defaultExplanation: String = SPFConfiguration.standardExplanation,
        receivingHost: String = "unknown",
        timeLimit: Duration? = .seconds(20),
        timestamp: @escaping @Sendable () -> Int64 = { Int64(time(nil)) }
    ) {
        self.limits = limits
        self.defaultExplanation = defaultExplanation
        self.receivingHost = receivingHost
        self.timestamp = timestamp
        self.timeLimit = timeLimit
    }
}
