import Policy
import SMTPCore
import Testing

/// Sender rules: block list, user grants, per-network senders, allowed list.
@Suite("Sender and recipient filters")
struct SenderFilterTests {
    static var policy: PolicyConfig {
        var policy = PolicyConfig()
        policy.senders.blocked = ["@spam.test", "bad@example.edu"].compactMap(AddressPattern.init)
        policy.senders.allowed = ["@example.edu", ".example.edu"].compactMap(AddressPattern.init)
        var lab = PolicyConfig.NetworkRule(networks: ["10.9.0.0/16"].compactMap(IPNetwork.init))
        lab.senders = ["scanner@example.edu"].compactMap(AddressPattern.init)
        policy.networks = [lab]
        var alice = PolicyConfig.UserRule()
        alice.senders = ["alice@example.edu", "@sales.example.edu"].compactMap(AddressPattern.init)
        policy.users["alice"] = alice
        return policy
    }

    static func verdict(_ sender: String, ip: String = "10.1.1.1", user: String? = nil) async -> String {
        let filter = SenderFilter(policy: policy)
        return Fixture.describe(await filter.mail(Fixture.session(ip, user: user), MessageFacts(sender: Fixture.sender(sender))))
    }

    @Test("passing and failing senders", arguments: [
        ("bob@example.edu", "10.1.1.1", nil, "continue"),
        ("bob@host.example.edu", "10.1.1.1", nil, "continue"),
        ("BOB@EXAMPLE.EDU", "10.1.1.1", nil, "continue"),
        ("bob@example.com", "10.1.1.1", nil, "553 5.7.1 Sender address <bob@example.com> not allowed here"),
        ("x@spam.test", "10.1.1.1", nil, "550 5.7.1 Sender address <x@spam.test> rejected: blocked by policy"),
        ("bad@example.edu", "10.1.1.1", "alice", "550 5.7.1 Sender address <bad@example.edu> rejected: blocked by policy"),
        ("scanner@example.edu", "10.9.1.1", nil, "continue"),
        ("bob@example.edu", "10.9.1.1", nil, "553 5.7.1 Sender address <bob@example.edu> not allowed from your network"),
        ("alice@example.edu", "192.0.2.1", "alice", "continue"),
        ("eve@sales.example.edu", "192.0.2.1", "alice", "continue"),
        ("bob@example.edu", "192.0.2.1", "alice", "553 5.7.1 Sender address <bob@example.edu> not owned by user alice"),
        ("carol@example.edu", "192.0.2.1", "carol@example.edu", "continue"),
        ("dave@example.edu", "192.0.2.1", "carol@example.edu",
         "553 5.7.1 Sender address <dave@example.edu> not owned by user carol@example.edu"),
        ("x@example.edu", "192.0.2.1", "nogrants", "553 5.7.1 Sender address <x@example.edu> not owned by user nogrants"),
        ("x@example.edu", "192.0.2.1", "@example.edu", "553 5.7.1 Sender address <x@example.edu> not owned by user @example.edu"),
        ("", "10.9.1.1", nil, "continue"),
        ("", "192.0.2.1", "alice", "continue"),
    ] as [(String, String, String?, String)])
    func senders(sender: String, ip: String, user: String?, expected: String) async {
        #expect(await Self.verdict(sender, ip: ip, user: user) == expected)
    }

    @Test func nullSenderCanBeBlocked() async {
        var policy = PolicyConfig()
        policy.senders.blocked = [AddressPattern("<>")!]
        let verdict = await SenderFilter(policy: policy).mail(Fixture.session("10.1.1.1"), MessageFacts(sender: .null))
        #expect(Fixture.describe(verdict) == "550 5.7.1 Sender address <> rejected: blocked by policy")
    }

    @Test func recipientBlockList() async throws {
        let filter = RecipientFilter(blocked: ["all-staff@example.edu", "@blocked.test"].compactMap(AddressPattern.init))
        let message = MessageFacts(sender: Fixture.sender("a@example.org"))
        let blocked = await filter.rcpt(Fixture.session("192.0.2.1"), message, recipient: try Fixture.path("All-Staff@Example.edu"))
        #expect(Fixture.describe(blocked) == "550 5.7.1 Recipient address <All-Staff@Example.edu> rejected: blocked by policy")
        let other = await filter.rcpt(Fixture.session("192.0.2.1"), message, recipient: try Fixture.path("bob@example.edu"))
        #expect(Fixture.describe(other) == "continue")
        let domain = await filter.rcpt(Fixture.session("192.0.2.1"), message, recipient: try Fixture.path("x@blocked.test"))
        #expect(Fixture.describe(domain).hasPrefix("550 5.7.1"))
    }

    @Test("address patterns", arguments: [
        ("a@b.test", "a@b.test", true), ("a@b.test", "A@B.TEST", true), ("a@b.test", "a@c.test", false),
        ("@b.test", "x@b.test", true), ("b.test", "x@b.test", true), ("@b.test", "x@sub.b.test", false),
        (".b.test", "x@sub.b.test", true), (".b.test", "x@b.test", false), ("@.b.test", "x@deep.sub.b.test", true),
        ("*", "anyone@anywhere.test", true),
    ])
    func patterns(pattern: String, address: String, matches: Bool) throws {
        let parsed = try #require(AddressPattern(pattern))
        #expect(parsed.matches(Fixture.mailbox(address)) == matches)
    }

    @Test("bad patterns", arguments: ["", "a@", "@", "@.", "a@b c", "."])
    func badPatterns(text: String) {
        #expect(AddressPattern(text) == nil)
    }

    @Test func sizeLimitPrecedence() {
        var policy = PolicyConfig()
        policy.maxMessageSize = 30_000
        var network = PolicyConfig.NetworkRule(networks: ["10.9.0.0/16"].compactMap(IPNetwork.init))
        network.maxMessageSize = 20_000
        policy.networks = [network]
        var user = PolicyConfig.UserRule()
        user.maxMessageSize = 90_000
        policy.users["big"] = user
        #expect(policy.messageSizeLimit(for: Fixture.session("192.0.2.1"), global: 50_000) == 30_000)
        #expect(policy.messageSizeLimit(for: Fixture.session("10.9.0.1"), global: 50_000) == 20_000)
        #expect(policy.messageSizeLimit(for: Fixture.session("10.9.0.1", user: "big"), global: 50_000) == 50_000)
        #expect(policy.messageSizeLimit(for: Fixture.session("10.9.0.1", user: "big"), global: 100_000) == 90_000)
        #expect(PolicyConfig().messageSizeLimit(for: Fixture.session("10.9.0.1"), global: 50_000) == 50_000)
    }
}
