/// Whether an answer was DNSSEC-validated.
///
/// Postern does not validate signatures itself: it trusts the AD bit
/// ([RFC 4035 §3.2.3](https://www.rfc-editor.org/rfc/rfc4035#section-3.2.3)) of a
/// resolver the configuration marks as validating, on a link it trusts (loopback), as
/// RFC 7672 §1.3 and RFC 6698 §4.1 allow. From any other resolver every answer is
/// insecure.
public enum DNSSecurity: String, Sendable, Hashable {
    case secure
    case insecure
}

/// A look-up result with the DNSSEC status of the answer (or of the denial: a
/// validated NXDOMAIN or no-data is secure too, RFC 7672 §2.1.1).
public struct DNSSecuredResult<Record: Sendable>: Sendable {
    public var result: DNSLookupResult<Record>
    public var security: DNSSecurity

    public init(_ result: DNSLookupResult<Record>, security: DNSSecurity) {
        self.result = result
        self.security = security
    }

    public var isSecure: Bool { security == .secure }

    /// Converts the records as `DNSLookupResult.compactMap` does; the status stays.
    public func compactMap<Other: Sendable>(_ transform: (Record) -> Other?) -> DNSSecuredResult<Other> {
        DNSSecuredResult<Other>(result.compactMap(transform), security: security)
    }
}
