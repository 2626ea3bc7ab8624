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

    public init(filters: [any PolicyFilter]) {
        self.filters = filters
        checkedPhases = filters.reduce(into: []) { $0.formUnion($1.phases) }
    }

    /// Whether any filter checks this phase.
    public func checks(_ phase: Phase) -> Bool {
        checkedPhases.contains(phase)
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
            outcome.steps.append(Step(filter: filter.name, phase: phase, verdict: verdict))
            if let spf = verdict.spf { outcome.spf = spf }
            switch verdict.decision {
            case .continue:
                outcome.headerEdits += verdict.headerEdits
            case .accept:
                outcome.headerEdits += verdict.headerEdits
                return outcome
            case .reject(let reply):
                outcome.refusal = reply
                return outcome
            case .tempfail(let reply):
                outcome.refusal = reply
                outcome.temporary = true
                return outcome
            case .quarantine(let reason):
                outcome.headerEdits += verdict.headerEdits
                if outcome.quarantine == nil { outcome.quarantine = reason }
            case .discard(let reason):
                outcome.discard = reason
                return outcome
            }
        }
        return outcome
    }
}

extension PolicyPipeline.Outcome {
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
