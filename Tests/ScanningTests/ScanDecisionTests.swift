import Policy
import SMTPCore
import Testing
@testable import Scanning

/// A scanner that answers what it is told (the decision table needs no peer).
struct FixedScanner: ContentScanner {
    let kind = "fixed"
    let verdict: ScanVerdict
    func scan(_ request: ScanRequest) async -> ScanVerdict { verdict }
    func ping() async -> Bool { true }
}

@Suite struct ScanDecisionTests {
    static func configured(_ rule: ScanRule) -> ConfiguredScanner {
        ConfiguredScanner(rule: rule, scanner: FixedScanner(verdict: .clean),
                          gate: ScannerGate(maxInFlight: 1, failureLimit: 1, coolDown: .seconds(1)))
    }

    static func decide(_ verdict: ScanVerdict, _ rule: ScanRule, subject: String? = nil) -> PolicyVerdict {
        ScanDecision.combine([ScanResult(name: rule.name, outcome: .verdict(verdict), microseconds: 1000)],
                             scanners: [configured(rule)], hostname: "relay.test", subject: subject)
    }

    static func spam(_ score: Double, action: SpamReport.Action = .noAction) -> ScanVerdict {
        .scored(SpamReport(score: score, threshold: 5, isSpam: score >= 5, symbols: ["A", "B"], action: action))
    }

    @Test func virusActions() {
        var rule = ScanRule(backend: .clamd)
        #expect(Self.decide(.infected(name: "Eicar\r\nX"), rule).refusal?.description == "554 5.7.1 Virus found: Eicar  X")
        rule.virus = .quarantine
        #expect(Self.decide(.infected(name: "Eicar"), rule).decision == .quarantine(reason: "virus Eicar (clamd)"))
        rule.virus = .discard
        #expect(Self.decide(.infected(name: "Eicar"), rule).decision == .discard(reason: "virus Eicar (clamd)"))
        let clean = Self.decide(.clean, rule)
        #expect(clean.decision == .continue && clean.headerEdits == [.prepend(name: "X-Virus-Scanned", value: "clean by clamd at relay.test")])
    }

    @Test func errorsFollowOnError() {
        var rule = ScanRule(backend: .clamd)
        #expect(Self.decide(.error("refused"), rule).refusal?.code == 451)
        rule.onError = .accept
        let accepted = Self.decide(.error("refused"), rule)
        #expect(accepted.decision == .continue && accepted.headerEdits == [.prepend(name: "X-Postern-Scan", value: "clamd not scanned: refused")])
        // spam scanners accept by default
        #expect(Self.decide(.error("timeout"), ScanRule(backend: .spamd)).decision == .continue)
        let open = ScanDecision.combine([ScanResult(name: "clamd", outcome: .breakerOpen, microseconds: 0)],
                                        scanners: [Self.configured(ScanRule(backend: .clamd))], hostname: "h")
        #expect(open.refusal?.code == 451)
    }

    @Test func spamScoresAndHeaders() {
        var rule = ScanRule(backend: .spamd)
        rule.quarantineScore = 10
        rule.rejectScore = 20
        let ham = Self.decide(Self.spam(1.5), rule)
        #expect(ham.decision == .continue)
        #expect(ham.headerEdits.contains(.prepend(name: "X-Spam-Flag", value: "NO")))
        #expect(ham.headerEdits.contains(.remove(name: "X-Spam-Flag")), "a client's own X-Spam fields go")
        #expect(ham.headerEdits.prependedFields.map(\.name) == ["X-Spam-Flag", "X-Spam-Score", "X-Spam-Status"])
        let tagged = Self.decide(Self.spam(7), rule)
        #expect(tagged.decision == .continue && tagged.headerEdits.contains(.prepend(name: "X-Spam-Flag", value: "YES")))
        #expect(tagged.headerEdits.contains(.prepend(name: "X-Spam-Status", value: "Yes, score=7.0 required=5.0 tests=A, B scanner=spamd")))
        #expect(Self.decide(Self.spam(12), rule).decision == .quarantine(reason: "spam score 12.0 (spamd)"))
        #expect(Self.decide(Self.spam(25), rule).refusal?.description == "550 5.7.1 Message refused as spam")
        rule.tagScore = 8
        #expect(Self.decide(Self.spam(7), rule).headerEdits.contains(.prepend(name: "X-Spam-Flag", value: "NO")))
    }

    @Test func scannerTextIsPrintableASCIIButSubjectsKeepTheirLetters() {
        #expect(ScanDecision.printable("Win.Trojan.Été\r\nX: y") == "Win.Trojan.?t?  X: y")
        var rule = ScanRule(backend: .spamd)
        rule.subjectTag = "[SPAM]"
        let verdict = Self.decide(Self.spam(6), rule, subject: "Été\r\n")
        #expect(verdict.headerEdits.contains(.append(name: "Subject", value: "[SPAM] Été  ")))
    }

    @Test func subjectTag() {
        var rule = ScanRule(backend: .spamd)
        rule.subjectTag = "[SPAM]"
        let verdict = Self.decide(Self.spam(6), rule, subject: "hello")
        #expect(verdict.headerEdits.contains(.remove(name: "Subject")))
        #expect(verdict.headerEdits.contains(.append(name: "Subject", value: "[SPAM] hello")))
        #expect(!Self.decide(Self.spam(1), rule, subject: "hello").headerEdits.contains(.remove(name: "Subject")))
    }

    @Test(arguments: [
        (SpamReport.Action.reject, "550"), (.softReject, "451"), (.greylist, "451"), (.noAction, "-"), (.addHeader, "-"),
    ])
    func rspamdActions(action: SpamReport.Action, code: String) {
        let rule = ScanRule(backend: .rspamd)
        let verdict = Self.decide(Self.spam(3, action: action), rule)
        #expect((verdict.refusal.map { String($0.code) } ?? "-") == code)
        if action == .addHeader { #expect(verdict.headerEdits.contains(.prepend(name: "X-Spam-Flag", value: "YES"))) }
        var ignoring = rule
        ignoring.useScannerAction = false
        #expect(Self.decide(Self.spam(3, action: action), ignoring).refusal == nil)
    }

    @Test func rspamdMilterHeadersAndSubject() {
        let report = SpamReport(score: 6, threshold: 15, isSpam: true, action: .rewriteSubject,
                                addHeaders: [("X-Rspamd-Bar", "++++++"), ("Bad:Name", "x")], removeHeaders: ["X-Spam"],
                                subject: "*** SPAM *** hi")
        let verdict = Self.decide(.scored(report), ScanRule(backend: .rspamd))
        #expect(verdict.headerEdits.contains(.prepend(name: "X-Rspamd-Bar", value: "++++++")))
        #expect(!verdict.headerEdits.contains { if case .prepend("Bad:Name", _) = $0 { true } else { false } })
        #expect(verdict.headerEdits.contains(.remove(name: "X-Spam")))
        #expect(verdict.headerEdits.contains(.append(name: "Subject", value: "*** SPAM *** hi")))
    }

    @Test func strongestDecisionWinsAndOversizeIsNoted() {
        let clamd = ScanRule(backend: .clamd)
        var spamd = ScanRule(backend: .spamd)
        spamd.quarantineScore = 5
        let results = [ScanResult(name: "clamd", outcome: .verdict(.error("down")), microseconds: 3000),
                       ScanResult(name: "spamd", outcome: .verdict(Self.spam(9)), microseconds: 80000)]
        let verdict = ScanDecision.combine(results, scanners: [Self.configured(clamd), Self.configured(spamd)], hostname: "h")
        #expect(verdict.refusal?.code == 451 && verdict.headerEdits.isEmpty)
        #expect(verdict.note == "clamd=error (down)/3ms spamd=spam 9.0/5.0/80ms")
        let big = ScanDecision.combine([ScanResult(name: "spamd", outcome: .oversized(size: 900_000, limit: 524_288), microseconds: 0)],
                                       scanners: [Self.configured(spamd)], hostname: "h")
        #expect(big.headerEdits == [.remove(name: "X-Spam-Flag"), .remove(name: "X-Spam-Score"), .remove(name: "X-Spam-Status"),
                                    .prepend(name: "X-Postern-Scan", value: "spamd skipped: 900000 octets over max_size 524288")],
                "a sender's X-Spam fields go even when the scanner was not asked")
    }
}

@Suite struct ScannerGateTests {
    @Test func breakerOpensAfterFailuresAndOneProbeClosesIt() {
        let gate = ScannerGate(maxInFlight: 2, failureLimit: 3, coolDown: .seconds(30))
        let start = ContinuousClock.now
        #expect(gate.record(success: false, now: start) == .none && gate.record(success: false, now: start) == .none)
        #expect(gate.admit(now: start) == .go)
        #expect(gate.record(success: false, now: start) == .opened, "the third failure opens it")
        #expect(gate.admit(now: start + .seconds(10)) == .open)
        #expect(gate.admit(now: start + .seconds(31)) == .probe)
        #expect(gate.admit(now: start + .seconds(31)) == .open, "one probe at a time")
        gate.record(success: false, now: start + .seconds(32))
        #expect(gate.admit(now: start + .seconds(40)) == .open, "a failed probe opens it again")
        #expect(gate.admit(now: start + .seconds(63)) == .probe)
        #expect(gate.record(success: true, now: start + .seconds(63)) == .closed)
        #expect(gate.admit(now: start + .seconds(63)) == .go && !gate.isOpen)
        #expect(gate.record(success: true, now: start + .seconds(64)) == .none)
    }

    @Test func slotsBoundMessagesInFlight() async {
        let gate = ScannerGate(maxInFlight: 2, failureLimit: 3, coolDown: .seconds(30))
        #expect(await gate.acquire(timeout: .milliseconds(10)))
        #expect(await gate.acquire(timeout: .milliseconds(10)))
        #expect(await !gate.acquire(timeout: .milliseconds(50)), "a third waits, then gives up")
        async let waiter = gate.acquire(timeout: .seconds(5))
        try? await Task.sleep(for: .milliseconds(50))
        gate.release()
        #expect(await waiter, "a release hands the slot to the waiter")
        #expect(gate.inFlight == 2)
        gate.release()
        gate.release()
        #expect(gate.inFlight == 0)
    }

    @Test func filterRunsScannersConcurrentlyAndSkipsOversized() async {
        var small = ScanRule(backend: .spamd, name: "small")
        small.maxSize = 10
        let filter = ScanFilter(scanners: [
            ConfiguredScanner(rule: ScanRule(backend: .clamd), scanner: FixedScanner(verdict: .infected(name: "V")),
                              gate: ScannerGate(maxInFlight: 1, failureLimit: 1, coolDown: .seconds(1))),
            ConfiguredScanner(rule: small, scanner: FixedScanner(verdict: .clean),
                              gate: ScannerGate(maxInFlight: 1, failureLimit: 1, coolDown: .seconds(1))),
        ], hostname: "h")
        let results = await filter.scanAll(ScanRequest(message: MessageSource(bytes: Array(repeating: 65, count: 100))))
        #expect(results.map(\.name) == ["clamd", "small"])
        #expect(results[0].outcome == .verdict(.infected(name: "V")))
        #expect(results[1].outcome == .oversized(size: 100, limit: 10))
    }
}
