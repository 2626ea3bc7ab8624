import DNSModel
import Policy
import SMTPCore
import Testing

/// Relay control: who may send to which domain (never an open relay).
@Suite("Relay filter")
struct RelayFilterTests {
    static var relay: PolicyConfig.RelaySettings {
        var relay = PolicyConfig.RelaySettings()
        relay.trustedNetworks = ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32"].compactMap(IPNetwork.init)
        relay.localDomains = ["local.test"]
        relay.relayDomains = ["partner.test"]
        return relay
    }

    static func verdict(_ ip: String, _ recipient: String, user: String? = nil) async throws -> String {
        let filter = RelayFilter(relay: relay)
        let message = MessageFacts(sender: Fixture.sender("a@example.org"))
        return Fixture.describe(await filter.rcpt(Fixture.session(ip, user: user), message, recipient: try Fixture.path(recipient)))
    }

    @Test("untrusted clients may not relay, whatever the disguise", arguments: [
        "victim@external.test", "VICTIM@EXTERNAL.TEST", "victim@external.test.", "victim%external.test@local.test",
        "external.test!victim@local.test", "\"victim@external.test\"@local.test", "@local.test:victim@external.test",
        "victim@[192.0.2.1]", "victim@[IPv6:2001:db8::1]", "victim@local.test.external.test", "victim@notlocal.test",
        "victim@sub.local.test", "victim%40external.test@local.test",
    ])
    func untrustedRefused(recipient: String) async throws {
        let text = try await Self.verdict("192.0.2.7", recipient)
        #expect(text.hasPrefix("554 5.7.1 <"), "\(recipient): \(text)")
        #expect(text.contains("Relay access denied"))
    }

    @Test("local and relay domains are open to everyone", arguments: [
        "user@local.test", "User@LOCAL.TEST", "user@local.test.", "user@partner.test",
    ])
    func localAccepted(recipient: String) async throws {
        #expect(try await Self.verdict("192.0.2.7", recipient) == "continue")
    }

    @Test("trusted networks and authenticated users relay anywhere", arguments: [
        ("127.0.0.1", nil), ("10.20.30.40", nil), ("2001:db8::25", nil), ("::ffff:10.1.1.1", nil), ("192.0.2.7", "alice"),
    ] as [(String, String?)])
    func trustedAccepted(ip: String, user: String?) async throws {
        #expect(try await Self.verdict(ip, "victim%external.test@local.test", user: user) == "continue")
        #expect(try await Self.verdict(ip, "victim@external.test", user: user) == "continue")
    }

    @Test func exactReplies() async throws {
        #expect(try await Self.verdict("127.0.0.2", "victim@external.test") == "554 5.7.1 <victim@external.test>: Relay access denied")
        #expect(try await Self.verdict("127.0.0.2", "a%b@local.test")
                == "554 5.7.1 <a%b@local.test>: Relay access denied (routing in the local part)")
    }

    @Test func postmasterIsAlwaysAccepted() async {
        let filter = RelayFilter(relay: Self.relay)
        let verdict = await filter.rcpt(Fixture.session("192.0.2.7"), MessageFacts(sender: .null), recipient: .postmaster)
        #expect(Fixture.describe(verdict) == "continue")
    }

    @Test("CIDR parsing and matching", arguments: [
        ("10.0.0.0/8", "10.255.1.2", true), ("10.0.0.0/8", "11.0.0.1", false), ("192.0.2.1", "192.0.2.1", true),
        ("192.0.2.1", "192.0.2.2", false), ("2001:db8::/32", "2001:db8:ffff::1", true), ("2001:db8::/32", "2001:db9::1", false),
        ("10.0.0.0/8", "::ffff:10.0.0.1", true), ("::1/128", "::1", true), ("0.0.0.0/0", "203.0.113.9", true),
        ("10.0.0.0/8", "2001:db8::1", false),
    ])
    func cidr(network: String, ip: String, inside: Bool) throws {
        let parsed = try #require(IPNetwork(network))
        #expect(parsed.contains(try #require(IPAddress(ip))) == inside)
    }

    @Test("bad networks do not parse", arguments: ["10.0.0.0/33", "10.0.0/8", "::1/129", "x", "10.0.0.0/-1", "10.0.0.0/+8", ""])
    func badNetwork(text: String) {
        #expect(IPNetwork(text) == nil)
    }
}
