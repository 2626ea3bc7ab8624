/// What one authentication method said about an identifier, as DMARC takes
/// its inputs: SPF for the MAIL FROM (or HELO) domain, DKIM for each `d=`.
public struct AuthenticatedIdentifier: Sendable, Hashable {
    /// Only a pass counts towards DMARC (RFC 7489 §4.2).
    public var passed: Bool
    /// The domain that was authenticated (SPF's domain, DKIM's d=).
    public var domain: String

    public init(passed: Bool, domain: String) {
        self.passed = passed
        self.domain = domain
    }
}

/// The outcome of DMARC for one message
/// ([RFC 7489 §6.6.2](https://www.rfc-editor.org/rfc/rfc7489#section-6.6.2) and
/// the `dmarc` method of [RFC 8601 §2.7.1](https://www.rfc-editor.org/rfc/rfc8601)).
public struct DMARCResult: Sendable, Hashable {
    public enum Verdict: String, Sendable, Hashable {
        case pass, fail, none, temperror, permerror
    }

    /// What the receiver is asked to do, after `pct` (§6.6.4).
    public enum Disposition: String, Sendable, Hashable {
        case none, quarantine, reject
    }

    public var verdict: Verdict
    /// The RFC 5322.From domain, when there was one.
    public var fromDomain: String?
    /// The record that applied and the policy it asks for this domain.
    public var record: DMARCRecord?
    public var requestedPolicy: DMARCRecord.Policy?
    /// What to do: `requestedPolicy` on a failure, less when `pct` spared it.
    public var disposition: Disposition
    /// Which identifiers aligned and passed (for logs).
    public var alignedSPF = false
    public var alignedDKIM = false
    /// Why, for a none/temperror/permerror (comment in Authentication-Results).
    public var reason: String?

    public init(verdict: Verdict, fromDomain: String?, record: DMARCRecord? = nil, requestedPolicy: DMARCRecord.Policy? = nil,
                disposition: Disposition = .none, reason: String? = nil) {
        self.verdict = verdict
        self.fromDomain = fromDomain
        self.record = record
        self.requestedPolicy = requestedPolicy
        self.disposition = disposition
        self.reason = reason
    }
}

/// Identifier alignment (§3.1): strict wants the same name, relaxed the same
/// organisational domain.
public struct DMARCAlignment: Sendable {
    public let suffixes: PublicSuffixList

    public init(suffixes: PublicSuffixList) { self.suffixes = suffixes }

    public func aligned(_ identifier: String, with fromDomain: String, mode: DMARCRecord.Alignment) -> Bool {
        let a = Self.normalised(identifier), b = Self.normalised(fromDomain)
        guard !a.isEmpty, !b.isEmpty else { return false }
        switch mode {
        case .strict: return a == b
        case .relaxed: return a == b || suffixes.organisationalDomain(of: a) == suffixes.organisationalDomain(of: b)
        }
    }

    static func normalised(_ domain: String) -> String {
        var name = domain.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }
}
