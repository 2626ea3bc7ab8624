import DNSModel
import MailMessage
import Policy
import SMTPCore
import SPF
import Testing

/// The SPF filter: actions per result, skips, and the trace fields.
@Suite("SPF filter")
struct SPFFilterTests {
    static let zone = ZoneResolver(txt: [
        "pass.test": "v=spf1 ip4:192.0.2.0/24 -all",
        "fail.test": "v=spf1 ip4:198.51.100.1 -all",
        "softfail.test": "v=spf1 ~all",
        "neutral.test": "v=spf1 ?all",
        "perm.test": "v=spf1 ip4:bogus -all",
        "helo-fail.test": "v=spf1 -all",
        "inject.test": "v=spf1 a:x\r\n550\tinjected\r\nX-Evil:yes -all",
    ], failing: ["temp.test"])

    static func filter(_ configure: (inout PolicyConfig.SPFSettings) -> Void = { _ in }) -> SPFFilter {
        var settings = PolicyConfig.SPFSettings()
        settings.enabled = true
        configure(&settings)
        let evaluator = SPFEvaluator(resolver: zone, configuration: SPFConfiguration(receivingHost: "relay.test"))
        return SPFFilter(settings: settings, trusted: ["10.0.0.0/8"].compactMap(IPNetwork.init), evaluator: evaluator,
                         hostname: "relay.test")
    }

    static func check(_ filter: SPFFilter, sender: String, ip: String = "192.0.2.1", helo: String = "client.test",
                      user: String? = nil) async -> PolicyVerdict {
        await filter.mail(Fixture.session(ip, user: user, helo: helo), MessageFacts(sender: Fixture.sender(sender)))
    }

    @Test("default actions", arguments: [
        ("a@pass.test", "continue"),
        ("a@fail.test", "550 5.7.23 SPF fail: 192.0.2.1 is not one of fail.test's designated mail servers."),
        ("a@softfail.test", "continue"),
        ("a@neutral.test", "continue"),
        ("a@none.test", "continue"),
        ("a@temp.test", "451 4.7.24 SPF temporary error for temp.test, try again later"),
        ("a@perm.test", "550 5.7.24 SPF permanent error for perm.test: "),
    ])
    func defaults(sender: String, expected: String) async {
        let verdict = await Self.check(Self.filter(), sender: sender)
        #expect(Fixture.describe(verdict).hasPrefix(expected), "\(sender): \(Fixture.describe(verdict))")
    }

    @Test func passIsTaggedWithReceivedSPFAndAuthenticationResults() async {
        let verdict = await Self.check(Self.filter(), sender: "a@pass.test")
        #expect(verdict.headerEdits.first == .removeAuthenticationResults(authservID: "relay.test"))
        guard case .prepend("Received-SPF", let received) = verdict.headerEdits[1],
              case .prepend("Authentication-Results", let results) = verdict.headerEdits.last else {
            Issue.record("no trace fields: \(verdict.headerEdits)"); return
        }
        #expect(received.hasPrefix("pass (relay.test: domain of a@pass.test designates 192.0.2.1 as permitted sender) "))
        #expect(received.contains("client-ip=192.0.2.1; envelope-from=\"a@pass.test\"; helo=client.test; receiver=relay.test; identity=mailfrom; mechanism=\"ip4:192.0.2.0/24"))
        #expect(results == "relay.test; spf=pass smtp.mailfrom=pass.test")
    }

    @Test func softfailIsAcceptedAndTagged() async {
        let verdict = await Self.check(Self.filter(), sender: "a@softfail.test")
        #expect(verdict.decision == .continue)
        guard case .prepend("Received-SPF", let received) = verdict.headerEdits[1] else { Issue.record("untagged"); return }
        #expect(received.hasPrefix("softfail (relay.test: transitioning domain of a@softfail.test does not designate 192.0.2.1"))
    }

    @Test func actionsAreConfigurable() async {
        let strict = Self.filter { $0.softfail = .reject; $0.fail = .quarantine; $0.temperror = .accept }
        #expect(Fixture.describe(await Self.check(strict, sender: "a@softfail.test"))
                == "550 5.7.23 SPF softfail for softfail.test refused by policy")
        let quarantined = await Self.check(strict, sender: "a@fail.test")
        guard case .quarantine(let reason) = quarantined.decision else { Issue.record("not quarantined"); return }
        #expect(reason.hasPrefix("SPF fail for mailfrom fail.test"))
        #expect(await Self.check(strict, sender: "a@temp.test").decision == .continue)
        let tempfailFail = Self.filter { $0.fail = .tempfail }
        #expect(Fixture.describe(await Self.check(tempfailFail, sender: "a@fail.test"))
                == "451 4.7.23 SPF fail for fail.test, try again later")
    }

    @Test func trustedAndAuthenticatedClientsAreSkipped() async {
        let filter = Self.filter()
        let trusted = await Self.check(filter, sender: "a@fail.test", ip: "10.1.1.1")
        let onlyDropsForgeries = [HeaderEdit.removeAuthenticationResults(authservID: "relay.test")]
        #expect(trusted.decision == .continue && trusted.headerEdits == onlyDropsForgeries && trusted.note == "skipped: trusted network")
        let user = await Self.check(filter, sender: "a@fail.test", user: "alice")
        #expect(user.decision == .continue && user.headerEdits == onlyDropsForgeries)
        let checked = await Self.check(Self.filter { $0.skipTrusted = false }, sender: "a@fail.test", ip: "10.1.1.1")
        #expect(Fixture.describe(checked).hasPrefix("550 5.7.23"))
    }

    @Test func heloFailDecidesAndNullSenderUsesHELO() async {
        let filter = Self.filter()
        let helo = await Self.check(filter, sender: "a@pass.test", helo: "helo-fail.test")
        #expect(Fixture.describe(helo).hasPrefix("550 5.7.23 SPF fail"))
        let noHELOCheck = await Self.check(Self.filter { $0.checkHELO = false }, sender: "a@pass.test", helo: "helo-fail.test")
        #expect(noHELOCheck.decision == .continue)
        let bounce = await Self.check(Self.filter { $0.checkHELO = false }, sender: "", helo: "helo-fail.test")
        #expect(Fixture.describe(bounce).hasPrefix("550 5.7.23"))
    }

    @Test func hostileHELOCannotAddKeys() async {
        let verdict = await Self.check(Self.filter(), sender: "a@pass.test", helo: "x; identity=helo")
        guard case .prepend(_, let received) = verdict.headerEdits[1] else { Issue.record("untagged"); return }
        #expect(received.contains("helo=\"x; identity=helo\";"))
    }

    @Test func lineBreaksFromDNSCannotSplitRepliesOrHeaders() async {
        let refused = await Self.check(Self.filter(), sender: "a@inject.test")
        let reply = refused.refusal!
        #expect(reply.code == 550 && reply.enhanced == EnhancedStatusCode(5, 7, 24))
        #expect(reply.lines.count == 1 && !reply.lines[0].unicodeScalars.contains { $0.value < 0x20 })
        let tagged = await Self.check(Self.filter { $0.permerror = .accept }, sender: "a@inject.test")
        for case .prepend(_, let value) in tagged.headerEdits {
            #expect(!value.unicodeScalars.contains { $0 == "\r" || $0 == "\n" }, "\(value)")
        }
        #expect(!tagged.headerEdits.isEmpty)
    }

    @Test func forgedResultsClaimingOurNameAreDropped() throws {
        let section = HeaderSection(parsing: Array(("Authentication-Results: relay.test; spf=pass smtp.mailfrom=bank.test\r\n"
            + "Authentication-Results: RELAY.TEST 1; dkim=pass\r\n"
            + "Authentication-Results: other.test; spf=fail\r\nSubject: x\r\n").utf8))
        let kept = HeaderRewriter.apply([.removeAuthenticationResults(authservID: "relay.test")], to: section)
        #expect(kept.fields.map(\.value) == ["other.test; spf=fail", "x"])
    }
}
