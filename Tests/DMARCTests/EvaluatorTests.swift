import DNSModel
import Testing

@testable import DMARC

/// Policy discovery and evaluation (RFC 7489 §6.6.2–6.6.4, RFC 9091) against a zone in memory.
struct EvaluatorTests {
    /// TXT and A records by name; other names NXDOMAIN; `failing` names SERVFAIL.
    struct Zone: DNSResolver {
        var txt: [String: [String]] = [:]
        var a: Set<String> = []
        var failing: Set<String> = []

        func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
            let key = name.description.lowercased().trimmingCharacters(in: ["."])
            if failing.contains(key) { return .failure(.serverFailure(rcode: 2)) }
            if type == .txt, let texts = txt[key] { return .answer(records: texts.map { .txt(TXTRecord($0)) }, ttl: 60) }
            if type == .a, a.contains(key) { return .answer(records: [.a(IPv4Address("192.0.2.1")!)], ttl: 60) }
            let exists = txt[key] != nil || a.contains(key)
            return .void(DNSVoid(kind: exists ? .noData : .nxdomain, negativeTTL: 60))
        }
    }

    static let zone = Zone(txt: [
        "_dmarc.example.com": ["v=DMARC1; p=reject; sp=quarantine; np=reject", "unrelated text"],
        "_dmarc.strict.test": ["v=DMARC1; p=reject; adkim=s; aspf=s"],
        "_dmarc.half.test": ["v=DMARC1; p=reject; pct=50"],
        "_dmarc.two.test": ["v=DMARC1; p=none", "v=DMARC1; p=reject"],
        "_dmarc.broken.test": ["v=DMARC1; p=sometimes"],
        "_dmarc.none.test": ["v=DMARC1; p=none"],
    ], a: ["mail.example.com", "strict.test"], failing: ["_dmarc.flaky.test"])

    static let evaluator = DMARCEvaluator(resolver: zone, suffixes: PublicSuffixList(text: "com\ntest\n"))

    static func pass(_ domain: String) -> AuthenticatedIdentifier { AuthenticatedIdentifier(passed: true, domain: domain) }
    static func fail(_ domain: String) -> AuthenticatedIdentifier { AuthenticatedIdentifier(passed: false, domain: domain) }

    struct Case: Sendable, CustomTestStringConvertible {
        var from: String
        var spf: AuthenticatedIdentifier?
        var dkim: [AuthenticatedIdentifier] = []
        var sample = 0
        var verdict: DMARCResult.Verdict
        var policy: DMARCRecord.Policy?
        var disposition: DMARCResult.Disposition = .none
        var testDescription: String { "\(from) spf=\(spf.map { "\($0.passed)@\($0.domain)" } ?? "-") → \(verdict)" }
    }

    @Test(arguments: [
        Case(from: "example.com", spf: pass("example.com"), verdict: .pass, policy: .reject),
        Case(from: "example.com", spf: pass("bounces.example.com"), verdict: .pass, policy: .reject),       // relaxed
        Case(from: "example.com", dkim: [fail("example.com"), pass("example.com")], verdict: .pass, policy: .reject),
        Case(from: "example.com", spf: pass("other.com"), dkim: [pass("other.com")], verdict: .fail, policy: .reject,
             disposition: .reject),                                                                            // unaligned pass
        Case(from: "example.com", spf: fail("example.com"), dkim: [fail("example.com")], verdict: .fail, policy: .reject,
             disposition: .reject),
        Case(from: "mail.example.com", spf: pass("other.com"), verdict: .fail, policy: .quarantine, disposition: .quarantine), // sp
        Case(from: "ghost.example.com", verdict: .fail, policy: .reject, disposition: .reject),               // np
        Case(from: "strict.test", spf: pass("mail.strict.test"), dkim: [pass("x.strict.test")], verdict: .fail, policy: .reject,
             disposition: .reject),
        Case(from: "strict.test", dkim: [pass("STRICT.test.")], verdict: .pass, policy: .reject),
        Case(from: "half.test", sample: 49, verdict: .fail, policy: .reject, disposition: .reject),
        Case(from: "half.test", sample: 50, verdict: .fail, policy: .reject, disposition: .quarantine),      // pct spares it
        Case(from: "none.test", verdict: .fail, policy: DMARCRecord.Policy.none, disposition: .none),
        Case(from: "nothing.test", spf: pass("nothing.test"), verdict: .none, policy: nil),
        Case(from: "two.test", verdict: .permerror, policy: nil),
        Case(from: "broken.test", verdict: .permerror, policy: nil),
        Case(from: "flaky.test", verdict: .temperror, policy: nil),
        Case(from: "sub.flaky.test", verdict: .temperror, policy: nil),
    ])
    func evaluate(_ c: Case) async {
        let result = await Self.evaluator.evaluate(fromDomain: c.from, spf: c.spf, dkim: c.dkim, sample: c.sample)
        #expect(result.verdict == c.verdict)
        #expect(result.requestedPolicy == c.policy)
        #expect(result.disposition == c.disposition)
    }

    @Test func discoveryFallsBackToTheOrganisationalDomain() async {
        let found = await Self.evaluator.discover("a.b.none.test")
        #expect(found == .found(DMARCRecord(policy: .none), domain: "none.test"))
        #expect(await Self.evaluator.discover("unknown.test") == .none)
    }

    @Test(arguments: [
        (DMARCRecord.Policy.reject, 100, 99, DMARCResult.Disposition.reject), (.reject, 0, 0, .quarantine),
        (.quarantine, 100, 0, .quarantine), (.quarantine, 10, 10, .none), (.none, 100, 0, .none),
    ])
    func disposition(policy: DMARCRecord.Policy, percent: Int, sample: Int, expected: DMARCResult.Disposition) {
        #expect(DMARCEvaluator.disposition(policy, percent: percent, sample: sample) == expected)
    }
}
