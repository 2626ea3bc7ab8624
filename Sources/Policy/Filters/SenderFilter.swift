import SMTPCore

/// Who may send as whom at MAIL FROM: the sender block list, then the
/// addresses granted to an authenticated user (553 5.7.1 otherwise), or
/// those allowed from the client's network, or the policy's allowed list.
/// The null sender of bounces (RFC 5321 §4.5.5) passes the allow lists.
public struct SenderFilter: InlinePolicyFilter {
    public let name = "senders"
    public let phases: Set<PolicyPipeline.Phase> = [.mail]
    let policy: PolicyConfig

    public init(policy: PolicyConfig) {
        self.policy = policy
    }

    public func mailInline(_ session: SessionFacts, _ message: MessageFacts) -> PolicyVerdict {
        let sender = message.sender
        if policy.senders.blocked.matches(sender) {
            return .reject(550, EnhancedStatusCode(5, 7, 1), "Sender address \(sender) rejected: blocked by policy",
                           note: "sender block list")
        }
        if case .null = sender { return PolicyVerdict(.continue, note: "null sender") }
        if let user = session.user {
            var grants = policy.userRule(for: session)?.senders ?? []
            // A user named like an address may always send as itself.
            if user.contains("@"), let own = AddressPattern(user), own.isAddress { grants.append(own) }
            guard grants.matches(sender) else {
                return .reject(553, EnhancedStatusCode(5, 7, 1), "Sender address \(sender) not owned by user \(user)",
                               note: "not among the user's sender grants")
            }
            return PolicyVerdict(.continue, note: "granted to \(user)")
        }
        if let rule = policy.networkRule(for: session), !rule.senders.isEmpty {
            guard rule.senders.matches(sender) else {
                return .reject(553, EnhancedStatusCode(5, 7, 1), "Sender address \(sender) not allowed from your network",
                               note: "not among the network's senders")
            }
            return PolicyVerdict(.continue, note: "allowed for the client's network")
        }
        if !policy.senders.allowed.isEmpty, !policy.senders.allowed.matches(sender) {
            return .reject(553, EnhancedStatusCode(5, 7, 1), "Sender address \(sender) not allowed here",
                           note: "not among [senders] allowed")
        }
        return PolicyVerdict(.continue, note: policy.senders.allowed.isEmpty ? "no sender rule applies" : "among [senders] allowed")
    }
}
