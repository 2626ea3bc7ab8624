import SMTPCore

/// A filter whose hooks before DATA never wait for I/O: address lists,
/// networks, in-memory counters. It says so by conforming, and writes its
/// connect, HELO, MAIL and RCPT checks as plain functions; when every
/// filter of a phase is inline, the session runs the phase on its event
/// loop instead of pausing input and hopping to a task and back
/// (issue #15: two thread hand-offs per message). A filter that may
/// suspend (DNS, a scanner, a remote store) stays a plain `PolicyFilter`.
public protocol InlinePolicyFilter: PolicyFilter {
    func connectInline(_ session: SessionFacts) -> PolicyVerdict
    func heloInline(_ session: SessionFacts) -> PolicyVerdict
    func mailInline(_ session: SessionFacts, _ message: MessageFacts) -> PolicyVerdict
    func rcptInline(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) -> PolicyVerdict
}

extension InlinePolicyFilter {
    public func connectInline(_ session: SessionFacts) -> PolicyVerdict { .continue }
    public func heloInline(_ session: SessionFacts) -> PolicyVerdict { .continue }
    public func mailInline(_ session: SessionFacts, _ message: MessageFacts) -> PolicyVerdict { .continue }
    public func rcptInline(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) -> PolicyVerdict {
        .continue
    }

    // The asynchronous hooks give the same answers (`postern policy test`,
    // and phases that also hold a filter that may suspend).
    public func connect(_ session: SessionFacts) async -> PolicyVerdict { connectInline(session) }
    public func helo(_ session: SessionFacts) async -> PolicyVerdict { heloInline(session) }
    public func mail(_ session: SessionFacts, _ message: MessageFacts) async -> PolicyVerdict {
        mailInline(session, message)
    }
    public func rcpt(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) async -> PolicyVerdict {
        rcptInline(session, message, recipient: recipient)
    }
}
