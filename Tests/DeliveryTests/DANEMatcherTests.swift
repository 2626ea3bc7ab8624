import Crypto
import DNSModel
import Foundation
import NIOSSL
import Testing

@testable import Delivery

/// DANE (RFC 7672, RFC 6698/7671): TLSA usability, matching and DANE-TA chains.
struct DANEMatcherTests {
    typealias Certs = DANETestCertificates
    static let mx = "mx.example.net"

    static func record(_ usage: UInt8, _ selector: UInt8, _ matching: UInt8, of der: [UInt8]) -> TLSARecord {
        let selected = selector == 0 ? der[...] : DERCertificate.subjectPublicKeyInfo(der)!
        let data: [UInt8]
        switch matching {
        case 1: data = Array(SHA256.hash(data: selected))
        case 2: data = Array(SHA512.hash(data: selected))
        default: data = Array(selected)
        }
        return TLSARecord(usage: usage, selector: selector, matchingType: matching, data: data)
    }

    static func verify(_ chain: [[UInt8]], _ records: [TLSARecord], names: [String] = [mx]) -> DANEVerdict {
        DANEMatcher.verify(chain: chain, expectation: DANEExpectation(records: records, referenceNames: names))
    }

    static func isVerified(_ verdict: DANEVerdict) -> Bool {
        if case .verified = verdict { return true }
        return false
    }

    @Test func spkiIsCutExactlyAsBoringSSLSeesIt() throws {
        let leaf = try Certs.make(subject: "leaf", names: [Self.mx])
        let viaNIOSSL = try NIOSSLCertificate(bytes: leaf.der, format: .der).extractPublicKey().toSPKIBytes()
        #expect(DERCertificate.subjectPublicKeyInfo(leaf.der).map(Array.init) == viaNIOSSL)
        #expect(DERCertificate.subjectPublicKeyInfo([0x30, 0x03, 0x02, 0x01]) == nil)
        #expect(DERCertificate.subjectPublicKeyInfo([]) == nil)
    }

    @Test("DANE-EE: every selector and matching type", arguments: [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] as [(UInt8, UInt8)])
    func daneEEMatches(selector: UInt8, matching: UInt8) throws {
        // Wrong name and expired: DANE-EE checks neither (RFC 7672 §3.1.1).
        let leaf = try Certs.make(subject: "other", names: ["elsewhere.example"], notBefore: Date() - 7200, notAfter: Date() - 3600)
        #expect(Self.isVerified(Self.verify([leaf.der], [Self.record(3, selector, matching, of: leaf.der)])))
    }

    @Test func daneEEMismatchFails() throws {
        let leaf = try Certs.make(subject: "leaf", names: [Self.mx])
        let stranger = try Certs.make(subject: "stranger", names: [Self.mx])
        #expect(!Self.isVerified(Self.verify([leaf.der], [Self.record(3, 1, 1, of: stranger.der)])))
        #expect(!Self.isVerified(Self.verify([], [Self.record(3, 1, 1, of: leaf.der)])))
        // One matching record among others is enough.
        let records = [Self.record(3, 1, 1, of: stranger.der), Self.record(3, 1, 1, of: leaf.der)]
        #expect(Self.isVerified(Self.verify([leaf.der], records)))
    }

    @Test func daneTAWithChainAndName() throws {
        let ca = try Certs.make(subject: "Test CA", names: [], isCA: true)
        let leaf = try Certs.make(subject: "mx", names: [Self.mx], issuer: ca)
        for (selector, matching) in [(0, 1), (1, 1), (0, 0), (1, 2)] as [(UInt8, UInt8)] {
            let verdict = Self.verify([leaf.der, ca.der], [Self.record(2, selector, matching, of: ca.der)])
            #expect(Self.isVerified(verdict), "2 \(selector) \(matching): \(verdict)")
        }
        // A wildcard stands for one leftmost label (RFC 7672 §3.2.3).
        let wild = try Certs.make(subject: "wild", names: ["*.example.net"], issuer: ca)
        #expect(Self.isVerified(Self.verify([wild.der, ca.der], [Self.record(2, 0, 1, of: ca.der)])))
        #expect(!Self.isVerified(Self.verify([wild.der, ca.der], [Self.record(2, 0, 1, of: ca.der)], names: ["a.mx.example.net"])))
    }

    @Test func daneTAFailures() throws {
        let ca = try Certs.make(subject: "Test CA", names: [], isCA: true)
        let otherCA = try Certs.make(subject: "Test CA", names: [], isCA: true)
        let record = Self.record(2, 0, 1, of: ca.der)
        let wrongName = try Certs.make(subject: "mx", names: ["other.example.net"], issuer: ca)
        #expect(!Self.isVerified(Self.verify([wrongName.der, ca.der], [record])))
        // Same issuer name, other key: the signature does not verify.
        let forged = try Certs.make(subject: "mx", names: [Self.mx], issuer: otherCA)
        #expect(!Self.isVerified(Self.verify([forged.der, ca.der], [record])))
        let expired = try Certs.make(subject: "mx", names: [Self.mx], issuer: ca, notBefore: Date() - 7200, notAfter: Date() - 3600)
        #expect(!Self.isVerified(Self.verify([expired.der, ca.der], [record])))
        // The anchor must be sent above the leaf; a DANE-TA record for the leaf itself does not do.
        let leaf = try Certs.make(subject: "mx", names: [Self.mx], issuer: ca)
        #expect(!Self.isVerified(Self.verify([leaf.der], [record])))
        #expect(!Self.isVerified(Self.verify([leaf.der, ca.der], [Self.record(2, 0, 1, of: leaf.der)])))
    }

    @Test("usable records (RFC 7672 §3.1.3)", arguments: [
        (3, 1, 1, 32, true), (2, 0, 1, 32, true), (3, 0, 2, 64, true), (3, 1, 0, 91, true),
        (0, 0, 1, 32, false), (1, 1, 1, 32, false), (4, 1, 1, 32, false), (3, 2, 1, 32, false),
        (3, 1, 3, 32, false), (3, 1, 1, 31, false), (3, 1, 2, 32, false), (3, 1, 0, 0, false),
    ] as [(UInt8, UInt8, UInt8, Int, Bool)])
    func usability(usage: UInt8, selector: UInt8, matching: UInt8, length: Int, usable: Bool) {
        let record = TLSARecord(usage: usage, selector: selector, matchingType: matching, data: [UInt8](repeating: 7, count: length))
        #expect(DANEExpectation.isUsable(record) == usable)
    }

    @Test func policyFromTLSAAnswer() {
        let usable = TLSARecord(usage: 3, selector: 1, matchingType: 1, data: [UInt8](repeating: 1, count: 32))
        let pkix = TLSARecord(usage: 1, selector: 1, matchingType: 1, data: [UInt8](repeating: 1, count: 32))
        func policy(_ result: DNSLookupResult<TLSARecord>, _ security: DNSSecurity) -> DANEPolicy {
            DANEPolicy.from(tlsa: DNSSecuredResult(result, security: security), referenceNames: ["MX.example.net."])
        }
        #expect(policy(.answer(records: [usable, pkix], ttl: 60), .secure)
            == .required(DANEExpectation(records: [usable], referenceNames: [Self.mx])))
        #expect(policy(.answer(records: [pkix], ttl: 60), .secure) == .mandatoryTLS)
        guard case .notApplicable = policy(.answer(records: [usable], ttl: 60), .insecure),
              case .notApplicable = policy(.void(DNSVoid(kind: .nxdomain, negativeTTL: 60)), .secure),
              case .lookupFailed = policy(.failure(.serverFailure(rcode: 2)), .insecure)
        else {
            Issue.record("insecure answers, denials and failures are classified wrongly")
            return
        }
    }

    @Test("reference names", arguments: [
        ("mx.example.net", "mx.example.net", true), ("*.example.net", "mx.example.net", true),
        ("*.example.net", "example.net", false), ("*.example.net", "a.b.example.net", false),
        ("mx.example.org", "mx.example.net", false), ("m*.example.net", "mx.example.net", false),
    ])
    func names(presented: String, reference: String, matches: Bool) {
        #expect(DANEMatcher.nameMatches(presented, reference: reference) == matches)
    }

    @Test func tlsaRDATAAndText() {
        let record = TLSARecord(rdata: [3, 1, 1, 0xAB, 0x01])
        #expect(record == TLSARecord(usage: 3, selector: 1, matchingType: 1, data: [0xAB, 0x01]))
        #expect(record?.description == "3 1 1 ab01")
        #expect(TLSARecord(rdata: [3, 1, 1]) == nil)
    }
}
