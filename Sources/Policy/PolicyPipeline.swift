import MailMessage
import SMTPCore
import SPF

/// The filters of one policy, run in order for each phase. The first
/// refusal wins; `.accept` ends the phase early; header edits and
/// quarantine reasons accumulate for the transaction.
public struct PolicyPipeline: Sendable {
    public enum Phase: String, Sendable, CaseIterable {
        case connect, helo, mail, rcpt, headers, content
    }

    /// One filter's verdict, kept for `postern policy test` and the logs.
    public struct Step: Sendable, Equatable {
        public var filter: String
        public var phase: Phase
        public var verdict: PolicyVerdict
    }

    /// The combined outcome of one phase.
    public struct Outcome: Sendable, Equatable {
        /// The refusal to send instead of the phase's normal reply, if any.
        public var refusal: SMTPReply?
        /// True when the refusal is temporary (4xx).
        public var temporary = false
        public var headerEdits: [HeaderEdit] = []
        public var quarantine: String?
        /// Set when a filter discards the message: 250, then nothing queued.
        public var discard: String?
        /// The SPF result a filter reported (MAIL FROM), for DMARC.
        public var spf: SPFResult?
        public var steps: [Step] = []

        public init() {}
    }

    public let filters: [any PolicyFilter]
    /// The phases some filter checks, known once (asked on every command).
    private let checkedPhases: Set<Phase>
    /// For each phase before DATA whose filters are all inline, those
    /// filters in order; a phase with one that may suspend is absent.
    private let inlineFilters: [Phase: [any InlinePolicyFilter]]

    public init(filters: [any PolicyFilter]) {
        self.filters = filters
        checkedPhases = filters.reduce(into: []) { $0.formUnion($1.phases) }
        var inline: [Phase: [any InlinePolicyFilter]] = [:]
        for phase in [Phase.connect, .helo, .mail, .rcpt] {
            let checking = filters.filter { $0.phases.contains(phase) }
            let inlineOnes = checking.compactMap { $0 as? any InlinePolicyFilter }
            if inlineOnes.count == checking.count { inline[phase] = inlineOnes }
        }
        inlineFilters = inline
    }

    /// Whether any filter checks this phase.
    public func checks(_ phase: Phase) -> Bool {
        checkedPhases.contains(phase)
    }

    /// Whether the phase can be run without suspending (`mailInline` etc.
    /// answer it); false for headers and content, which read the spool.
    public func runsInline(_ phase: Phase) -> Bool {
        inlineFilters[phase] != nil
    }

    // The phases before DATA, run on the caller's thread; nil when a filter
    // of the phase may suspend (then the asynchronous hook is the way).

    public func connectInline(_ session: SessionFacts) -> Outcome? {
        runInline(.connect) { $0.connectInline(session) }
    }

    public func heloInline(_ session: SessionFacts) -> Outcome? {
        runInline(.helo) { $0.heloInline(session) }
    }

    public func mailInline(_ session: SessionFacts, _ message: MessageFacts) -> Outcome? {
        runInline(.mail) { $0.mailInline(session, message) }
    }

    public func rcptInline(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) -> Outcome? {
        runInline(.rcpt) { $0.rcptInline(session, message, recipient: recipient) }
    }

    public func connect(_ session: SessionFacts) async -> Outcome {
        await run(.connect) { await $0.connect(session) }
    }

    public func helo(_ session: SessionFacts) async -> Outcome {
        await run(.helo) { await $0.helo(session) }
    }

    public func mail(_ session: SessionFacts, _ message: MessageFacts) async -> Outcome {
        await run(.mail) { await $0.mail(session, message) }
    }

    public func rcpt(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) async -> Outcome {
        await run(.rcpt) { await $0.rcpt(session, message, recipient: recipient) }
    }

    /// The headers phase, then (unless it refused) the content phase.
    public func data(_ session: SessionFacts, _ message: MessageFacts, headers: HeaderSection,
                     content: ReceivedContent) async -> Outcome {
        var outcome = await run(.headers) { await $0.headers(session, message, headers: headers) }
        guard outcome.refusal == nil, outcome.discard == nil else { return outcome }
        let second = await run(.content) { await $0.content(session, message, content: content) }
        outcome.merge(second)
        return outcome
    }

    private func run(_ phase: Phase, _ hook: (any PolicyFilter) async -> PolicyVerdict) async -> Outcome {
        var outcome = Outcome()
        for filter in filters where filter.phases.contains(phase) {
            let verdict = await hook(filter)
            if outcome.add(verdict, from: filter.name, phase: phase) { break }
        }
        return outcome
    }

    private func runInline(_ phase: Phase, _ hook: (any InlinePolicyFilter) -> PolicyVerdict) -> Outcome? {
        guard let filters = inlineFilters[phase] else { return nil }
        var outcome = Outcome()
        for filter in filters {
            if outcome.add(hook(filter), from: filter.name, phase: phase) { break }
        }
        return outcome
    }
}

extension PolicyPipeline.Outcome {
    /// Folds one filter's verdict in; true when it ends the phase.
    mutating func add(_ verdict: PolicyVerdict, from filter: String, phase: PolicyPipeline.Phase) -> Bool {
        steps.append(PolicyPipeline.Step(filter: filter, phase: phase, verdict: verdict))
        if let result = verdict.spf { spf = result }
        switch verdict.decision {
        case .continue:
            headerEdits += verdict.headerEdits
            return false
        case .accept:
            headerEdits += verdict.headerEdits
            return true
        case .reject(let reply):
            refusal = reply
            return true
        case .tempfail(let reply):
            refusal = reply
            temporary = true
            return true
        case .quarantine(let reason):
            headerEdits += verdict.headerEdits
            if quarantine == nil { quarantine = reason }
            return false
        case .discard(let reason):
            discard = reason
            return true
        }
    }

    mutating func merge(_ other: Self) {
        refusal = other.refusal
        temporary = other.temporary
        headerEdits += other.headerEdits
        if quarantine == nil { quarantine = other.quarantine }
        discard = discard ?? other.discard
        spf = other.spf ?? spf
        steps += other.steps
    }
}
