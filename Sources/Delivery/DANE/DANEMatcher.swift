import Crypto
import DNSModel
import Foundation
import SwiftASN1
import X509

/// Whether a server's certificate chain satisfies a next hop's TLSA records.
public enum DANEVerdict: Sendable, Hashable, CustomStringConvertible {
    /// The record that matched.
    case verified(TLSARecord)
    case failed(String)

    public var description: String {
        switch self {
        case .verified(let record): return "verified by TLSA \(record.usage) \(record.selector) \(record.matchingType)"
        case .failed(let reason): return reason
        }
    }
}

/// DANE authentication of a TLS server (RFC 7672 §3.1, RFC 7671 §5). Pure: the chain
/// comes as DER certificates, leaf first, as the server sent them.
///
/// - DANE-EE(3): the leaf must match; names and dates are not checked (RFC 7672 §3.1.1).
/// - DANE-TA(2): a certificate the server sent above the leaf must match; the leaf must
///   chain to it by signatures, the certificates below it must be within their
///   validity, and the leaf must carry one of the reference names (RFC 7672 §3.1.2,
///   §3.2.3). The trust anchor's own dates are not checked (RFC 7671 §5.2.2 treats it
///   as a key).
public enum DANEMatcher {
    public static func verify(chain: [[UInt8]], expectation: DANEExpectation, now: Date = Date()) -> DANEVerdict {
        guard let leaf = chain.first else { return .failed("the server sent no certificate") }
        for record in expectation.records where record.usage == TLSARecord.Usage.daneEE.rawValue {
            if matches(record, certificate: leaf) { return .verified(record) }
        }
        let anchors = expectation.records.filter { $0.usage == TLSARecord.Usage.daneTA.rawValue }
        guard !anchors.isEmpty else { return .failed("no TLSA record matches the server certificate") }
        for position in chain.indices.dropFirst() {
            guard let record = anchors.first(where: { matches($0, certificate: chain[position]) }) else { continue }
            switch checkChain(Array(chain[...position]), names: expectation.referenceNames, now: now) {
            case nil: return .verified(record)
            case let failure?: return .failed("DANE-TA: \(failure)")
            }
        }
        return .failed("no TLSA record matches the server certificate or its chain")
    }

    /// Does `record` select and match this DER certificate (RFC 6698 §2.1.2–2.1.3)?
    public static func matches(_ record: TLSARecord, certificate der: [UInt8]) -> Bool {
        let selected: ArraySlice<UInt8>
        switch TLSARecord.Selector(rawValue: record.selector) {
        case .certificate?: selected = der[...]
        case .publicKey?:
            guard let spki = DERCertificate.subjectPublicKeyInfo(der) else { return false }
            selected = spki
        case nil: return false
        }
        switch TLSARecord.MatchingType(rawValue: record.matchingType) {
        case .full?: return Array(selected) == record.data
        case .sha256?: return Array(SHA256.hash(data: selected)) == record.data
        case .sha512?: return Array(SHA512.hash(data: selected)) == record.data
        case nil: return false
        }
    }

    /// `chain` runs from the leaf to the matched trust anchor. Returns why it fails,
    /// or nil when each certificate is signed by the next, the ones below the anchor
    /// are valid now, and the leaf names a reference identifier.
    static func checkChain(_ chain: [[UInt8]], names: [String], now: Date) -> String? {
        let certificates: [Certificate]
        do {
            certificates = try chain.map { try Certificate(derEncoded: $0) }
        } catch {
            return "unreadable certificate: \(error)"
        }
        for (child, issuer) in zip(certificates, certificates.dropFirst()) {
            guard child.issuer == issuer.subject, issuer.publicKey.isValidSignature(child.signature, for: child) else {
                return "\(child.subject) is not signed by \(issuer.subject)"
            }
        }
        for certificate in certificates.dropLast() where now < certificate.notValidBefore || now > certificate.notValidAfter {
            return "\(certificate.subject) is not valid now"
        }
        let presented = dnsNames(certificates[0])
        guard presented.contains(where: { name in names.contains { nameMatches(name, reference: $0) } }) else {
            return "certificate names \(presented) match none of \(names)"
        }
        return nil
    }

    /// The leaf's dNSName subjectAltNames, or its common names when it has none
    /// (RFC 7672 §3.2.3).
    static func dnsNames(_ certificate: Certificate) -> [String] {
        let alternatives = (try? certificate.extensions.subjectAlternativeNames)?.compactMap { name -> String? in
            if case .dnsName(let text) = name { return text }
            return nil
        } ?? []
        if !alternatives.isEmpty { return alternatives.map(DANEExpectation.normalized) }
        return certificate.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map {
            DANEExpectation.normalized("\($0.value)")
        }
    }

    /// Exact match, or a wildcard as the whole leftmost label standing for exactly
    /// one label (RFC 7672 §3.2.3, RFC 6125 §6.4.3).
    static func nameMatches(_ presented: String, reference: String) -> Bool {
        if presented == reference { return true }
        guard presented.hasPrefix("*."), let dot = reference.firstIndex(of: ".") else { return false }
        return reference[reference.index(after: dot)...] == presented.dropFirst(2) && reference[..<dot].count > 0
    }
}
