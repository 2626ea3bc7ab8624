import SMTPCore

/// The recipient block list at RCPT (the count limit is the session's,
/// answered 452 4.5.3 per RFC 5321 §4.5.3.1.10).
public struct RecipientFilter: InlinePolicyFilter {
    public let name = "recipients"
    public let phases: Set<PolicyPipeline.Phase> = [.rcpt]
    let blocked: [AddressPattern]

    public init(blocked: [AddressPattern]) {
        self.blocked = blocked
    }

    public func rcptInline(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) -> PolicyVerdict {
        guard blocked.matches(recipient) else { return PolicyVerdict(.continue, note: "not blocked") }
        return .reject(550, EnhancedStatusCode(5, 7, 1), "Recipient address \(recipient) rejected: blocked by policy",
                       note: "recipient block list")
    }
}
