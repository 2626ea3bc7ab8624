/// The outcome for one signature, in the terms of
/// [RFC 8601 §2.7.1](https://www.rfc-editor.org/rfc/rfc8601#section-2.7.1).
public enum DKIMResult: Sendable, Hashable, CustomStringConvertible {
    case pass
    /// The signature could be checked and did not verify (body or header hash).
    case fail(String)
    /// The signature could not be processed (syntax, unsupported algorithm,
    /// too many signatures).
    case neutral(String)
    /// The key could not be fetched this time (DNS timeout, SERVFAIL).
    case temperror(String)
    /// The key is missing, revoked or unusable, or the signature expired.
    case permerror(String)

    /// The result keyword of an Authentication-Results field (`dkim=…`).
    public var keyword: String {
        switch self {
        case .pass: return "pass"
        case .fail: return "fail"
        case .neutral: return "neutral"
        case .temperror: return "temperror"
        case .permerror: return "permerror"
        }
    }

    /// Why, for anything but a pass.
    public var reason: String? {
        switch self {
        case .pass: return nil
        case .fail(let reason), .neutral(let reason), .temperror(let reason), .permerror(let reason): return reason
        }
    }

    public var description: String {
        reason.map { "\(keyword) (\($0))" } ?? keyword
    }
}

/// What the verifier found for one DKIM-Signature field: the result and the
/// properties an Authentication-Results field reports (RFC 8601 §2.7.1,
/// RFC 6008 for header.b).
public struct DKIMSignatureResult: Sendable, Hashable {
    public var result: DKIMResult
    /// d=, lowercased; nil when the field could not be read that far.
    public var domain: String?
    /// s=.
    public var selector: String?
    /// i='s domain (d= when i= is absent): DMARC aligns with d=, not this.
    public var identityDomain: String?
    /// The first eight characters of b= (`header.b`).
    public var signaturePrefix: String?
    public var algorithm: DKIMAlgorithm?
    /// The key record said t=y: the domain is testing DKIM.
    public var testing = false

    public init(result: DKIMResult, domain: String? = nil, selector: String? = nil) {
        self.result = result
        self.domain = domain
        self.selector = selector
    }

    /// The properties of an Authentication-Results `dkim=` result:
    /// `header.d=… header.s=… header.b=…`.
    public var properties: String {
        var parts: [String] = []
        if let domain { parts.append("header.d=\(domain)") }
        if let selector { parts.append("header.s=\(selector)") }
        if let signaturePrefix { parts.append("header.b=\"\(signaturePrefix)\"") }
        return parts.joined(separator: " ")
    }
}
