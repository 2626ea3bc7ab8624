import SMTPCore

/// One policy file (policies/*.toml) as a value: who may relay, as whom,
/// how big, how fast, and what the header looks like when it leaves.
/// Every field has a safe default: loopback is trusted, nobody else may
/// relay, AUTH is off.
public struct PolicyConfig: Sendable, Equatable {
    /// Where it was read from, for logs and `policy test`.
    public var name = "default"
    public var relay = RelaySettings()
    public var auth = AuthSettings()
    public var senders = SenderSettings()
    public var recipients = RecipientSettings()
    /// `[size] max_message_size`; nil: the global `[limits]` value.
    public var maxMessageSize: Int?
    public var networks: [NetworkRule] = []
    /// `[users.NAME]`, keyed by the lowercased AUTH identity.
    public var users: [String: UserRule] = [:]
    public var rate = RateSettings()
    public var spf = SPFSettings()
    public var dmarc = DMARCSettings()
    public var headers = HeaderRules()
    /// `[[dkim.sign]]`: the keys outgoing mail is signed with.
    public var dkimSign: [DKIMSignRule] = []
    public var attachments = AttachmentRules()
    /// `[[scan]]`, in order; run concurrently on each message.
    public var scans: [ScanRule] = []

    public init() {}

    /// `[relay]`: RFC 5321 §3.6 — relaying only for those we know.
    public struct RelaySettings: Sendable, Equatable {
        /// Clients here may relay to any domain without AUTH.
        public var trustedNetworks: [IPNetwork] = ["127.0.0.0/8", "::1/128"].compactMap(IPNetwork.init)
        /// Domains we accept mail for from anyone (the MX role).
        public var localDomains: [String] = []
        /// Other domains anyone may send to through us (backup MX, partners).
        public var relayDomains: [String] = []

        public init() {}
    }

    /// `[auth]`: SMTP AUTH (RFC 4954).
    public struct AuthSettings: Sendable, Equatable {
        public var enabled = false
        public var passwordFile: String?
        /// Offered mechanisms, in order.
        public var mechanisms = ["PLAIN", "LOGIN"]
        /// Offer AUTH before STARTTLS (only sensible on loopback).
        public var allowPlaintext = false
        /// Failed attempts per client IP within `failureWindow` before AUTH
        /// answers 454 and the session is closed with 421.
        public var maxFailures = 5
        public var failureWindowSeconds = 600.0

        public init() {}
    }

    /// `[senders]`
    public struct SenderSettings: Sendable, Equatable {
        /// When not empty, MAIL FROM must match one of these (unless a
        /// network or user rule grants others).
        public var allowed: [AddressPattern] = []
        public var blocked: [AddressPattern] = []

        public init() {}
    }

    /// `[recipients]`
    public struct RecipientSettings: Sendable, Equatable {
        public var blocked: [AddressPattern] = []
        /// nil: the global `[limits] max_recipients`.
        public var maxRecipients: Int?

        public init() {}
    }

    /// `[[network]]`: settings for clients from some networks.
    public struct NetworkRule: Sendable, Equatable {
        public var networks: [IPNetwork]
        /// Sender addresses or domains these clients may use; empty: any.
        public var senders: [AddressPattern] = []
        public var maxMessageSize: Int?

        public init(networks: [IPNetwork]) {
            self.networks = networks
        }
    }

    /// `[users.NAME]`: grants and limits for an authenticated user.
    public struct UserRule: Sendable, Equatable {
        /// MAIL FROM addresses or domains the user may use.
        public var senders: [AddressPattern] = []
        public var maxMessageSize: Int?

        public init() {}
    }

    /// `[rate]`: per window, counted in memory on this node. 0 is off.
    public struct RateSettings: Sendable, Equatable {
        public var windowSeconds = 3600.0
        public var messagesPerIP = 0
        public var recipientsPerIP = 0
        public var messagesPerUser = 0
        public var recipientsPerUser = 0

        public init() {}

        public var isEnabled: Bool { messagesPerIP + recipientsPerIP + messagesPerUser + recipientsPerUser > 0 }
    }

    /// `[spf]`: RFC 7208 checks at MAIL FROM (and HELO).
    public struct SPFSettings: Sendable, Equatable {
        public enum Action: String, Sendable, Equatable, CaseIterable {
            case accept, reject, tempfail, quarantine
        }

        public var enabled = false
        public var checkHELO = true
        public var skipTrusted = true
        public var skipAuthenticated = true
        public var fail = Action.reject
        public var softfail = Action.accept
        public var neutral = Action.accept
        public var none = Action.accept
        public var pass = Action.accept
        public var temperror = Action.tempfail
        public var permerror = Action.reject

        public init() {}
    }

    // MARK: derived

    /// The network rule for a client, the first that matches.
    public func networkRule(for session: SessionFacts) -> NetworkRule? {
        guard let ip = session.clientIP else { return nil }
        return networks.first { $0.networks.contains { $0.contains(ip) } }
    }

    public func userRule(for session: SessionFacts) -> UserRule? {
        session.user.flatMap { users[$0.lowercased()] }
    }

    /// The size limit for this client: user, then network, then policy,
    /// then the global limit; never above the global limit.
    public func messageSizeLimit(for session: SessionFacts, global: Int) -> Int {
        let specific = userRule(for: session)?.maxMessageSize
            ?? networkRule(for: session)?.maxMessageSize
            ?? maxMessageSize
        return min(specific ?? global, global)
    }

    public func isTrusted(_ session: SessionFacts) -> Bool {
        relay.trustedNetworks.contains(session.clientIP)
    }
}
