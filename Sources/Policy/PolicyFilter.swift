import MailMessage
import SMTPCore

/// One policy check, one hook per SMTP phase (maddy's check modules,
/// OpenSMTPD's filter phases). Every hook defaults to `.continue`, so a
/// filter implements only the phases it cares about. Hooks that need no
/// I/O run cheaply before DATA; the content hook sees the spooled message.
public protocol PolicyFilter: Sendable {
    /// The name printed by `postern policy test` and in logs.
    var name: String { get }
    /// The phases whose hooks this filter implements; the pipeline skips
    /// the others (so a session pays nothing for phases nobody checks).
    var phases: Set<PolicyPipeline.Phase> { get }

    func connect(_ session: SessionFacts) async -> PolicyVerdict
    func helo(_ session: SessionFacts) async -> PolicyVerdict
    func mail(_ session: SessionFacts, _ message: MessageFacts) async -> PolicyVerdict
    func rcpt(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) async -> PolicyVerdict
    /// The header section, at the end of DATA, before the body is looked at.
    func headers(_ session: SessionFacts, _ message: MessageFacts, headers: HeaderSection) async -> PolicyVerdict
    /// The whole message, spooled.
    func content(_ session: SessionFacts, _ message: MessageFacts, content: ReceivedContent) async -> PolicyVerdict
}

extension PolicyFilter {
    public func connect(_ session: SessionFacts) async -> PolicyVerdict { .continue }
    public func helo(_ session: SessionFacts) async -> PolicyVerdict { .continue }
    public func mail(_ session: SessionFacts, _ message: MessageFacts) async -> PolicyVerdict { .continue }
    public func rcpt(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) async -> PolicyVerdict { .continue }
    public func headers(_ session: SessionFacts, _ message: MessageFacts, headers: HeaderSection) async -> PolicyVerdict { .continue }
    public func content(_ session: SessionFacts, _ message: MessageFacts, content: ReceivedContent) async -> PolicyVerdict { .continue }
}
