/// The seven results of `check_host()`
/// ([RFC 7208 §2.6](https://www.rfc-editor.org/rfc/rfc7208#section-2.6)); the raw value is
/// the word used in `Received-SPF` and by `postern spf check`.
public enum SPFVerdict: String, Sendable, Hashable, CaseIterable {
    case pass, fail, softfail, neutral, none, permerror, temperror
}

/// Which identity was checked ([RFC 7208 §2.2–2.4](https://www.rfc-editor.org/rfc/rfc7208#section-2.2)).
public enum SPFIdentity: String, Sendable, Hashable {
    /// The domain of the MAIL FROM address.
    case mailFrom = "mailfrom"
    /// The HELO/EHLO name, as `postmaster@<helo>`: used for the null sender and for a
    /// separate HELO check (§2.3).
    case helo
}

/// The outcome of one SPF check.
public struct SPFResult: Sendable, Hashable, CustomStringConvertible {
    public var verdict: SPFVerdict
    /// The explanation (§6.2): from the `exp=` record when there is a usable one, or the
    /// configured default. Set only when `verdict` is `.fail`.
    public var explanation: String?
    /// What decided: the mechanism as written and the domain whose record held it
    /// (`-all in example.com`), the default result, a missing record, or the error.
    public var decidedBy: String
    /// The domain checked first (the sender's domain or the HELO name).
    public var domain: String
    public var identity: SPFIdentity

    public init(verdict: SPFVerdict, explanation: String? = nil, decidedBy: String, domain: String, identity: SPFIdentity) {
        self.verdict = verdict
        self.explanation = explanation
        self.decidedBy = decidedBy
        self.domain = domain
        self.identity = identity
    }

    public var description: String {
        var text = "\(verdict.rawValue) (\(decidedBy))"
        if let explanation { text += ": \(explanation)" }
        return text
    }
}
