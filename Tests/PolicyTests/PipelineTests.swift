import Policy
import SMTPCore
import Testing

/// The pipeline's rules: order, first refusal wins, accept ends a phase,
/// edits and quarantine accumulate, phases nobody checks are skipped.
@Suite("Policy pipeline")
struct PipelineTests {
    struct Scripted: PolicyFilter {
        let name: String
        let phases: Set<PolicyPipeline.Phase>
        let verdict: PolicyVerdict
        func mail(_ session: SessionFacts, _ message: MessageFacts) async -> PolicyVerdict { verdict }
    }

    /// The same script, declared as needing no I/O.
    struct InlineScripted: InlinePolicyFilter {
        let name: String
        let phases: Set<PolicyPipeline.Phase>
        let verdict: PolicyVerdict
        func mailInline(_ session: SessionFacts, _ message: MessageFacts) -> PolicyVerdict { verdict }
        func rcptInline(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) -> PolicyVerdict {
            verdict
        }
    }

    static let message = MessageFacts(sender: Fixture.sender("a@example.org"))
    static let session = Fixture.session("192.0.2.1")

    @Test func firstRefusalWins() async {
        let pipeline = PolicyPipeline(filters: [
            Scripted(name: "one", phases: [.mail], verdict: PolicyVerdict(.continue, headerEdits: [.append(name: "X-One", value: "1")])),
            Scripted(name: "two", phases: [.mail], verdict: .tempfail(451, EnhancedStatusCode(4, 7, 1), "later")),
            Scripted(name: "three", phases: [.mail], verdict: .reject(550, EnhancedStatusCode(5, 7, 1), "no")),
        ])
        let outcome = await pipeline.mail(Self.session, Self.message)
        #expect(outcome.refusal?.description == "451 4.7.1 later")
        #expect(outcome.temporary)
        #expect(outcome.steps.map(\.filter) == ["one", "two"])
    }

    @Test func acceptEndsThePhase() async {
        let pipeline = PolicyPipeline(filters: [
            Scripted(name: "allow", phases: [.mail], verdict: .accept),
            Scripted(name: "deny", phases: [.mail], verdict: .reject(550, EnhancedStatusCode(5, 7, 1), "no")),
        ])
        let outcome = await pipeline.mail(Self.session, Self.message)
        #expect(outcome.refusal == nil)
        #expect(outcome.steps.map(\.filter) == ["allow"])
    }

    @Test func editsAndQuarantineAccumulate() async {
        let pipeline = PolicyPipeline(filters: [
            Scripted(name: "a", phases: [.mail], verdict: PolicyVerdict(.quarantine(reason: "suspicious"),
                                                                        headerEdits: [.prepend(name: "X-A", value: "1")])),
            Scripted(name: "b", phases: [.mail], verdict: PolicyVerdict(.continue, headerEdits: [.remove(name: "X-B")])),
        ])
        let outcome = await pipeline.mail(Self.session, Self.message)
        #expect(outcome.quarantine == "suspicious")
        #expect(outcome.headerEdits == [.prepend(name: "X-A", value: "1"), .remove(name: "X-B")])
    }

    @Test func phasesNobodyChecksAreSkipped() async {
        let pipeline = PolicyPipeline(filters: [Scripted(name: "mail-only", phases: [.mail], verdict: .accept)])
        #expect(pipeline.checks(.mail))
        #expect(!pipeline.checks(.rcpt) && !pipeline.checks(.connect) && !pipeline.checks(.content))
        let outcome = await pipeline.rcpt(Self.session, Self.message, recipient: Fixture.recipient("b@example.net"))
        #expect(outcome.steps.isEmpty)
    }

    @Test func standardPipelineOrder() {
        var policy = PolicyConfig()
        policy.rate.messagesPerIP = 10
        policy.recipients.blocked = [AddressPattern("@x.test")!]
        policy.attachments.blockedExtensions = ["exe"]
        let pipeline = PolicyPipeline.standard(policy: policy, hostname: "relay.test", spf: nil, rateLimiter: RateLimiter(window: 60))
        #expect(pipeline.filters.map(\.name) == ["senders", "recipients", "relay", "rate", "attachments"])
        let minimal = PolicyPipeline.standard(policy: PolicyConfig(), hostname: "relay.test", spf: nil, rateLimiter: nil)
        #expect(minimal.filters.map(\.name) == ["senders", "relay"])
    }

    @Test func phasesOfInlineFiltersRunWithoutSuspendingAndAnswerAlike() async {
        let pipeline = PolicyPipeline(filters: [
            InlineScripted(name: "tag", phases: [.mail], verdict: PolicyVerdict(.continue, headerEdits: [.append(name: "X-A", value: "1")])),
            InlineScripted(name: "hold", phases: [.mail], verdict: PolicyVerdict(.quarantine(reason: "review"))),
            InlineScripted(name: "deny", phases: [.mail], verdict: .tempfail(451, EnhancedStatusCode(4, 7, 1), "later")),
            InlineScripted(name: "never", phases: [.mail], verdict: .reject(550, EnhancedStatusCode(5, 7, 1), "no")),
        ])
        #expect(pipeline.runsInline(.mail))
        let inline = pipeline.mailInline(Self.session, Self.message)
        let suspended = await pipeline.mail(Self.session, Self.message)
        #expect(inline == suspended)
        #expect(inline?.steps.map(\.filter) == ["tag", "hold", "deny"])
        #expect(inline?.refusal?.description == "451 4.7.1 later" && inline?.temporary == true)
        #expect(inline?.quarantine == "review" && inline?.headerEdits == [.append(name: "X-A", value: "1")])
    }

    /// One filter that may suspend sends its whole phase the asynchronous way.
    @Test func aFilterThatMaySuspendKeepsItsPhaseOffTheInlinePath() {
        let pipeline = PolicyPipeline(filters: [
            InlineScripted(name: "inline", phases: [.mail, .rcpt], verdict: .continue),
            Scripted(name: "dns", phases: [.mail], verdict: .continue),
        ])
        #expect(!pipeline.runsInline(.mail) && pipeline.mailInline(Self.session, Self.message) == nil)
        #expect(pipeline.runsInline(.rcpt))
        #expect(pipeline.rcptInline(Self.session, Self.message, recipient: Fixture.recipient("b@example.net"))?.steps.count == 1)
        // Phases nobody checks answer inline with nothing; the body's never do.
        #expect(pipeline.heloInline(Self.session)?.steps == [])
        #expect(!pipeline.runsInline(.headers) && !pipeline.runsInline(.content))
    }

    @Test func standardFiltersBeforeDataNeedNoIO() {
        var policy = PolicyConfig()
        policy.rate.messagesPerIP = 10
        policy.recipients.blocked = [AddressPattern("@x.test")!]
        let pipeline = PolicyPipeline.standard(policy: policy, hostname: "relay.test", spf: nil, rateLimiter: RateLimiter(window: 60))
        #expect([.connect, .helo, .mail, .rcpt].allSatisfy { pipeline.runsInline($0) })
        let refused = pipeline.rcptInline(Self.session, Self.message, recipient: Fixture.recipient("b@x.test"))
        #expect(refused?.refusal?.code == 550 && refused?.steps.map(\.filter) == ["recipients"])
    }
}
