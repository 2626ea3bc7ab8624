import DNSModel
import Testing

@testable import Delivery

/// RFC 7672 §2.2: TLSA counts only behind secure MX and address answers.
struct DANELookupTests {
    /// Answers from a table of (name, type) → (result, security).
    struct TableResolver: DNSResolver {
        var table: [String: DNSSecuredResult<DNSRecord>]

        func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
            await securedLookup(name, type: type).result
        }

        func securedLookup(_ name: DNSName, type: DNSRecordType) async -> DNSSecuredResult<DNSRecord> {
            table["\(name) \(type)"] ?? DNSSecuredResult(.void(DNSVoid(kind: .noData, negativeTTL: 60)), security: .secure)
        }
    }

    static let tlsa = TLSARecord(usage: 3, selector: 1, matchingType: 1, data: [UInt8](repeating: 9, count: 32))

    static func table(mx: DNSSecurity = .secure, address: DNSSecurity = .secure,
                      tlsa: DNSSecuredResult<DNSRecord>? = nil) -> [String: DNSSecuredResult<DNSRecord>] {
        let mxRecord = MXRecord(preference: 10, exchange: DNSName("mx.example.net")!)
        var table: [String: DNSSecuredResult<DNSRecord>] = [
            "example.net MX": DNSSecuredResult(.answer(records: [.mx(mxRecord)], ttl: 60), security: mx),
            "mx.example.net A": DNSSecuredResult(.answer(records: [.a(IPv4Address(127, 0, 0, 1))], ttl: 60), security: address),
        ]
        table["_25._tcp.mx.example.net TLSA"] = tlsa ?? DNSSecuredResult(.answer(records: [.tlsa(Self.tlsa)], ttl: 60), security: .secure)
        return table
    }

    static func policy(_ table: [String: DNSSecuredResult<DNSRecord>]) async -> DANEPolicy {
        await DANELookup(resolver: TableResolver(table: table)).policy(domain: "example.net", host: "mx.example.net", port: 25)
    }

    @Test func secureAllTheWayRequiresDANE() async {
        #expect(await Self.policy(Self.table()) == .required(DANEExpectation(records: [Self.tlsa], referenceNames: ["mx.example.net"])))
    }

    @Test func anInsecureStepMeansNoDANE() async {
        for table in [Self.table(mx: .insecure), Self.table(address: .insecure),
                      Self.table(tlsa: DNSSecuredResult(.answer(records: [.tlsa(Self.tlsa)], ttl: 60), security: .insecure))] {
            guard case .notApplicable = await Self.policy(table) else {
                Issue.record("DANE applied behind an insecure answer")
                continue
            }
        }
    }

    @Test func aFailedTLSALookupDefers() async {
        let table = Self.table(tlsa: DNSSecuredResult(.failure(.serverFailure(rcode: 2)), security: .insecure))
        guard case .lookupFailed = await Self.policy(table) else {
            Issue.record("a SERVFAIL for TLSA behind secure answers must defer")
            return
        }
    }

    @Test func addressLiteralsHaveNoTLSA() async {
        let policy = await DANELookup(resolver: TableResolver(table: Self.table())).policy(domain: "example.net", host: "127.0.0.1", port: 25)
        guard case .notApplicable = policy else {
            Issue.record("an address literal cannot have TLSA records")
            return
        }
    }
}
