import DNSModel

/// What DANE asks of one next hop (RFC 7672 §2.2), decided from its DNSSEC-validated
/// TLSA RRset at `_port._tcp.host`.
public enum DANEPolicy: Sendable, Hashable {
    /// DANE does not apply (an insecure MX, address or TLSA answer, no TLSA records):
    /// the other TLS policies decide. The text says why, for logs.
    case notApplicable(String)
    /// A secure TLSA RRset with no usable record (RFC 7672 §3.1.3): TLS is still
    /// mandatory, but the certificate is not checked.
    case mandatoryTLS
    /// Usable records: STARTTLS is mandatory and the certificate must match one.
    case required(DANEExpectation)
    /// The TLSA look-up failed where the zone is signed (RFC 7672 §2.2): the hop must
    /// not be used now, and the message defers.
    case lookupFailed(String)

    /// Classifies a TLSA answer for a next hop whose address (and MX) answers were
    /// secure. `referenceNames` are what a DANE-TA certificate must be issued to.
    public static func from(tlsa: DNSSecuredResult<TLSARecord>, referenceNames: [String]) -> DANEPolicy {
        switch tlsa.result {
        case .failure(let error):
            return .lookupFailed("TLSA lookup: \(error)")
        case .void:
            return .notApplicable(tlsa.isSecure ? "no TLSA records" : "TLSA denial not validated")
        case .answer(let records, _):
            guard tlsa.isSecure else { return .notApplicable("TLSA records not validated (no AD bit)") }
            let usable = records.filter(DANEExpectation.isUsable)
            guard !usable.isEmpty else { return .mandatoryTLS }
            return .required(DANEExpectation(records: usable, referenceNames: referenceNames))
        }
    }
}

/// The usable TLSA records of a next hop and the names a DANE-TA certificate may carry.
public struct DANEExpectation: Sendable, Hashable, CustomStringConvertible {
    public var records: [TLSARecord]
    /// RFC 7672 §3.2.2: the MX host name (the TLSA base domain); lower case, no
    /// trailing dot.
    public var referenceNames: [String]

    public init(records: [TLSARecord], referenceNames: [String]) {
        self.records = records
        self.referenceNames = referenceNames.map { Self.normalized($0) }
    }

    /// RFC 7672 §3.1.3: only DANE-TA(2) and DANE-EE(3) are usable for SMTP, with a
    /// known selector and matching type; a digest must have the digest's length.
    public static func isUsable(_ record: TLSARecord) -> Bool {
        guard let usage = TLSARecord.Usage(rawValue: record.usage), usage == .daneTA || usage == .daneEE,
              TLSARecord.Selector(rawValue: record.selector) != nil,
              let matching = TLSARecord.MatchingType(rawValue: record.matchingType)
        else { return false }
        switch matching {
        case .full: return !record.data.isEmpty
        case .sha256: return record.data.count == 32
        case .sha512: return record.data.count == 64
        }
    }

    public var description: String { records.map(\.description).joined(separator: ", ") }

    static func normalized(_ name: String) -> String {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }
}
