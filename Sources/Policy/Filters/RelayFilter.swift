import SMTPCore

/// Relay control (RFC 5321 §3.6.1, RFC 5068): mail for local and relay
/// domains is taken from anyone; mail for any other domain only from
/// trusted networks or authenticated users. Source routing hidden in the
/// local part ("a%b@local", "b!a@local", "\"a@b\"@local") is refused for
/// untrusted clients, since the next hop might honour it.
public struct RelayFilter: InlinePolicyFilter {
    public let name = "relay"
    public let phases: Set<PolicyPipeline.Phase> = [.rcpt]
    let relay: PolicyConfig.RelaySettings
    private let acceptedDomains: Set<String>

    public init(relay: PolicyConfig.RelaySettings) {
        self.relay = relay
        acceptedDomains = Set((relay.localDomains + relay.relayDomains).map(Self.normalize))
    }

    public func rcptInline(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) -> PolicyVerdict {
        if session.user != nil { return PolicyVerdict(.continue, note: "authenticated as \(session.user!)") }
        if relay.trustedNetworks.contains(session.clientIP) { return PolicyVerdict(.continue, note: "trusted network") }
        // RFC 5321 §4.5.1: <Postmaster> is always accepted.
        guard case .mailbox(let mailbox) = recipient else { return PolicyVerdict(.continue, note: "postmaster") }
        if mailbox.localPart.contains(where: { $0 == "%" || $0 == "!" || $0 == "@" }) {
            return .reject(554, EnhancedStatusCode(5, 7, 1), "\(recipient): Relay access denied (routing in the local part)",
                           note: "sender-specified routing from an untrusted client")
        }
        guard case .name(let name) = mailbox.domain, acceptedDomains.contains(Self.normalize(name)) else {
            return .reject(554, EnhancedStatusCode(5, 7, 1), "\(recipient): Relay access denied",
                           note: "\(mailbox.domain) is not a local or relay domain")
        }
        return PolicyVerdict(.continue, note: "\(name.lowercased()) is a local or relay domain")
    }

    static func normalize(_ domain: String) -> String {
        let lower = domain.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }
}
