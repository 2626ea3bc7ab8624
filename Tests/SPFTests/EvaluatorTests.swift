import DNSModel
import Testing

@testable import SPF

/// `check_host()` against an in-memory zone: each mechanism, include and redirect,
/// explanations, the identities and the processing limits.
struct EvaluatorTests {
    static let zone: [String: [InMemoryResolver.Entry]] = [
        "mail.example.com": [.a("192.0.2.10"), .aaaa("2001:db8::10")],
        "other.example.com": [.a("198.51.100.1")],
        "mx.example.com": [.mx(10, "mail.example.com"), .mx(20, "other.example.com")],
        "nullmx.example.com": [.mx(0, ".")],
        "10.2.0.192.in-addr.arpa": [.ptr("mail.example.com"), .ptr("liar.example.org")],
        "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": [.ptr("mail.example.com")],
        "liar.example.org": [.a("203.0.113.9")],
        "slow.example.com": [.timeout],
        "halfslow.example.com": [.a("192.0.2.77"), .timeout],
        "bl.example.com": [.a("127.0.0.2")],
        "10.2.0.192.bl.example.com": [.a("127.0.0.2")],
    ]

    /// Checks `foo@test.example` whose record is `record`, from `ip`.
    static func check(
        _ record: String, ip: String = "192.0.2.10", extra: [String: [InMemoryResolver.Entry]] = [:],
        configuration: SPFConfiguration = SPFConfiguration(defaultExplanation: "DEFAULT")
    ) async -> SPFResult {
        var zone = Self.zone.merging(extra) { $1 }
        zone["test.example", default: []].append(.txt(record))
        let evaluator = SPFEvaluator(resolver: InMemoryResolver(zone), configuration: configuration)
        return await evaluator.check(ip: IPAddress(ip)!, sender: "foo@test.example", helo: "helo.example")
    }

    @Test(arguments: [
        ("v=spf1 -all", "192.0.2.10", SPFVerdict.fail),
        ("v=spf1 ~all", "192.0.2.10", .softfail),
        ("v=spf1 ?all", "192.0.2.10", .neutral),
        ("v=spf1 all", "192.0.2.10", .pass),
        ("v=spf1", "192.0.2.10", .neutral),
        ("v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.10", .pass),
        ("v=spf1 ip4:192.0.2.0/25 -all", "192.0.2.200", .fail),
        ("v=spf1 ip4:192.0.2.10 -all", "::ffff:192.0.2.10", .pass),
        ("v=spf1 ip6:2001:db8::/32 -all", "2001:db8::1", .pass),
        ("v=spf1 ip6:::ffff:192.0.2.10 -all", "192.0.2.10", .fail),
        ("v=spf1 ip6:::/0 -all", "192.0.2.10", .fail),
        ("v=spf1 a:mail.example.com -all", "192.0.2.10", .pass),
        ("v=spf1 a:mail.example.com -all", "2001:db8::10", .pass),
        ("v=spf1 a:mail.example.com/24 -all", "192.0.2.99", .pass),
        ("v=spf1 a:mail.example.com//120 -all", "2001:db8::99", .pass),
        ("v=spf1 a:mail.example.com//120 -all", "192.0.2.99", .fail),
        ("v=spf1 a -all", "192.0.2.10", .fail),
        ("v=spf1 mx:mx.example.com -all", "198.51.100.1", .pass),
        ("v=spf1 mx:mx.example.com -all", "203.0.113.1", .fail),
        ("v=spf1 mx:nullmx.example.com ?all", "192.0.2.10", .neutral),
        ("v=spf1 ptr:example.com -all", "192.0.2.10", .pass),
        ("v=spf1 ptr:example.org -all", "192.0.2.10", .fail),
        ("v=spf1 ptr:EXAMPLE.COM -all", "2001:db8::10", .pass),
        ("v=spf1 exists:bl.example.com -all", "192.0.2.99", .pass),
        ("v=spf1 exists:%{ir}.bl.example.com -all", "192.0.2.10", .pass),
        ("v=spf1 exists:%{ir}.bl.example.com -all", "192.0.2.11", .fail),
        ("v=spf1 -ip4:192.0.2.10 +all", "192.0.2.10", .fail),
    ])
    func mechanisms(record: String, ip: String, verdict: SPFVerdict) async {
        let result = await Self.check(record, ip: ip)
        #expect(result.verdict == verdict, "\(record) from \(ip): \(result)")
    }

    @Test func decidingMechanismIsReported() async {
        let result = await Self.check("v=spf1 ip4:10.0.0.0/8 ~a:mail.example.com -all")
        #expect(result.verdict == .softfail)
        #expect(result.decidedBy == "~a:mail.example.com in test.example")
        #expect(result.explanation == nil)
    }

    @Test(arguments: [
        ("v=spf1 a:slow.example.com -all", SPFVerdict.temperror),
        ("v=spf1 mx:slow.example.com -all", .temperror),
        ("v=spf1 exists:slow.example.com -all", .temperror),
        ("v=spf1 include:slow.example.com -all", .temperror),
        ("v=spf1 a:halfslow.example.com -all", .fail),
        ("v=spf1 ptr:slow.example.com -all", .fail),
    ])
    func dnsErrors(record: String, verdict: SPFVerdict) async {
        #expect(await Self.check(record).verdict == verdict)
    }

    @Test func ptrIgnoresFailedLookupsAndUnvalidatedNames() async {
        let extra: [String: [InMemoryResolver.Entry]] = ["10.2.0.192.in-addr.arpa": [.ptr("slow.example.com"), .ptr("liar.example.org"), .ptr("mail.example.com")]]
        #expect(await Self.check("v=spf1 ptr:example.org -all", extra: extra).verdict == .fail)
        #expect(await Self.check("v=spf1 ptr:example.com -all", extra: extra).verdict == .pass)
    }

    // MARK: include and redirect (§5.2, §6.1)

    @Test(arguments: [
        ("v=spf1 +all", SPFVerdict.pass), ("v=spf1 -all", .fail), ("v=spf1 ~all", .fail), ("v=spf1 ?all", .fail),
        ("v=spf1 foo", .permerror), ("not spf", .permerror),
    ])
    func includeResults(included: String, verdict: SPFVerdict) async {
        let extra: [String: [InMemoryResolver.Entry]] = ["inc.example": [.txt(included)]]
        #expect(await Self.check("v=spf1 include:inc.example -all", extra: extra).verdict == verdict)
    }

    @Test func redirectTakesTheTargetsResultAndExplanation() async {
        let extra: [String: [InMemoryResolver.Entry]] = [
            "target.example": [.txt("v=spf1 -all exp=why.target.example")],
            "why.target.example": [.txt("%{d} says no to %{i}")],
            "why.test.example": [.txt("never used")],
        ]
        let result = await Self.check("v=spf1 exp=why.test.example redirect=target.example", extra: extra)
        #expect(result.verdict == .fail)
        #expect(result.explanation == "target.example says no to 192.0.2.10")
        #expect(result.decidedBy == "-all in target.example")
    }

    @Test func redirectIsIgnoredWhenAMechanismMatches() async {
        #expect(await Self.check("v=spf1 redirect=nowhere.example ~all").verdict == .softfail)
    }

    @Test func redirectToNoRecordIsPermerror() async {
        #expect(await Self.check("v=spf1 redirect=nowhere.example").verdict == .permerror)
    }

    // MARK: explanations (§6.2)

    @Test(arguments: [
        ([InMemoryResolver.Entry.txt("Not from %{c}, %{l}.")], "Not from 192.0.2.10, foo."),
        ([.txtStrings(["Joined ", "strings"])], "Joined strings"),
        ([.txt("one"), .txt("two")], "DEFAULT"),
        ([.txt("bad %{x} macro")], "DEFAULT"),
        ([.txt("caf\u{E9}")], "DEFAULT"),
        ([.timeout], "DEFAULT"),
        ([], "DEFAULT"),
    ])
    func explanationRecords(entries: [InMemoryResolver.Entry], explanation: String) async {
        let extra = entries.isEmpty ? [:] : ["why.example": entries]
        let result = await Self.check("v=spf1 -all exp=why.example", extra: extra)
        #expect(result.verdict == .fail)
        #expect(result.explanation == explanation)
    }

    @Test func defaultExplanationExpandsMacros() async {
        let result = await Self.check("v=spf1 -all", configuration: SPFConfiguration())
        #expect(result.explanation == "192.0.2.10 is not one of test.example's designated mail servers.")
    }

    @Test func explanationComesOnlyWithFail() async {
        let result = await Self.check("v=spf1 ~all exp=why.example", extra: ["why.example": [.txt("text")]])
        #expect(result.explanation == nil)
    }

    // MARK: identities (§2.3, §2.4, §4.3)

    @Test func nullSenderChecksPostmasterAtHELO() async {
        let zone: [String: [InMemoryResolver.Entry]] = [
            "helo.example": [.txt("v=spf1 exists:%{l}.%{o}.ok.example -all")],
            "postmaster.helo.example.ok.example": [.a("127.0.0.2")],
        ]
        let evaluator = SPFEvaluator(resolver: InMemoryResolver(zone))
        let result = await evaluator.check(ip: IPAddress("192.0.2.1")!, sender: "", helo: "helo.example")
        #expect(result.verdict == .pass)
        #expect(result.identity == .helo)
        #expect(result.domain == "helo.example")
        #expect(await evaluator.checkHELO(ip: IPAddress("192.0.2.1")!, helo: "helo.example").verdict == .pass)
        #expect(await evaluator.check(ip: IPAddress("192.0.2.1")!, sender: "<>", helo: "helo.example").verdict == .pass)
    }

    @Test func emptyLocalPartIsPostmaster() async {
        let zone: [String: [InMemoryResolver.Entry]] = [
            "example.net": [.txt("v=spf1 -all exp=why.example.net")], "why.example.net": [.txt("%{l}")],
        ]
        let evaluator = SPFEvaluator(resolver: InMemoryResolver(zone))
        let result = await evaluator.check(ip: IPAddress("192.0.2.1")!, sender: "@example.net", helo: "h.example")
        #expect(result.explanation == "postmaster")
    }

    @Test(arguments: ["foo@A2345678", "foo@[192.0.2.1]", "foo@a..example.com", "foo@" + String(repeating: "a", count: 64) + ".com"])
    func uncheckableDomainsGiveNoneWithoutLookups(sender: String) async {
        let resolver = InMemoryResolver([:])
        let result = await SPFEvaluator(resolver: resolver).check(ip: IPAddress("192.0.2.1")!, sender: sender, helo: "h.example")
        #expect(result.verdict == .none)
        #expect(resolver.queries.isEmpty)
    }

    @Test(arguments: [
        ([InMemoryResolver.Entry](), SPFVerdict.none),
        ([.txt("v=spf1 -all"), .txt("v=spf1 +all")], .permerror),
        ([.txt("v=spf1 -all"), .txt("other text"), .txt("v=spf10 +all")], .fail),
        ([.timeout], .temperror),
        ([.txtStrings(["v=spf1 ip4:", "192.0.2.1 -all"])], .pass),
    ])
    func recordSelection(entries: [InMemoryResolver.Entry], verdict: SPFVerdict) async {
        let resolver = InMemoryResolver(["sel.example": entries, "other.example": [.a("192.0.2.1")]])
        let result = await SPFEvaluator(resolver: resolver).check(ip: IPAddress("192.0.2.1")!, sender: "a@sel.example", helo: "h.example")
        #expect(result.verdict == verdict)
    }
}
