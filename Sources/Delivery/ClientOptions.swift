import NIOCore

/// How the client treats STARTTLS (RFC 3207).
public enum TLSPolicy: String, Sendable, Hashable, CaseIterable {
    /// Never start TLS.
    case none
    /// Start TLS when offered; go on in plaintext when it is not.
    case opportunistic
    /// Start TLS or do not deliver (defer with 4.7.4).
    case required
}

/// Whether the server's certificate is checked.
public enum CertificateVerification: String, Sendable, Hashable, CaseIterable {
    /// Encrypt without checking who answers (opportunistic TLS, RFC 7435).
    case none
    /// Check the chain against the trust roots and the name against the host.
    case full
}

/// AUTH credentials for a relayhost (RFC 4954). Never logged.
public struct ClientCredentials: Sendable, Hashable, CustomStringConvertible {
    public var user: String
    public var password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }

    public var description: String { "ClientCredentials(user: \(user), password: <redacted>)" }
}

/// Client timeouts; defaults follow RFC 5321 §4.5.3.2 (and Postfix where the
/// RFC says nothing: connect, EHLO, STARTTLS, AUTH, RSET, QUIT).
public struct ClientTimeouts: Sendable, Hashable {
    public var connect: TimeAmount = .seconds(30)
    /// §4.5.3.2.1 initial 220: 5 minutes.
    public var greeting: TimeAmount = .minutes(5)
    /// EHLO/HELO, STARTTLS, AUTH and RSET replies.
    public var command: TimeAmount = .minutes(5)
    /// The TLS handshake after STARTTLS and the EHLO reply over TLS
    /// (Postfix's smtp_starttls_timeout: 300 s).
    public var tlsHandshake: TimeAmount = .minutes(5)
    /// §4.5.3.2.2 MAIL: 5 minutes.
    public var mail: TimeAmount = .minutes(5)
    /// §4.5.3.2.3 RCPT: 5 minutes.
    public var rcpt: TimeAmount = .minutes(5)
    /// §4.5.3.2.4 DATA initiation: 2 minutes.
    public var dataInitiation: TimeAmount = .minutes(2)
    /// §4.5.3.2.5 data block: 3 minutes for each chunk to be taken by the peer.
    public var dataBlock: TimeAmount = .minutes(3)
    /// §4.5.3.2.6 DATA termination: 10 minutes.
    public var endOfData: TimeAmount = .minutes(10)
    public var quit: TimeAmount = .seconds(30)

    public init() {}

    /// Every timeout set to one value (tests).
    public init(all value: TimeAmount) {
        (connect, greeting, command, tlsHandshake, mail, rcpt) = (value, value, value, value, value, value)
        (dataInitiation, dataBlock, endOfData, quit) = (value, value, value, value)
    }

    public func timeout(for stage: SMTPStage) -> TimeAmount {
        switch stage {
        case .connect: return connect
        case .greeting: return greeting
        case .ehlo, .helo, .startTLS, .auth, .rset: return command
        case .tlsHandshake: return tlsHandshake
        case .mail: return mail
        case .rcpt: return rcpt
        case .data: return dataInitiation
        // A Maildir write has no SMTP step to time; the client never asks.
        case .dataBlock, .localDelivery: return dataBlock
        case .endOfData: return endOfData
        case .quit: return quit
        }
    }
}

/// Everything that shapes one outbound session.
public struct ClientOptions: Sendable, Hashable {
    /// Our name in EHLO/HELO (RFC 5321 §4.1.1.1): the host's FQDN.
    public var heloName: String
    public var tlsPolicy: TLSPolicy
    public var verify: CertificateVerification
    /// PEM file of trust roots for `.full`; nil uses the system's.
    public var trustRootsFile: String?
    /// Name for SNI and certificate checks; nil uses the host connected to
    /// (unless it is an IP address, which SNI cannot carry).
    public var tlsServerName: String?
    public var credentials: ClientCredentials?
    /// The next hop's usable TLSA records (RFC 7672): the certificate is checked
    /// against them instead of trust roots. Set with `tlsPolicy = .required`.
    public var dane: DANEExpectation?
    /// Send credentials without TLS (only for a relayhost on a trusted link).
    public var allowPlaintextAuth: Bool
    public var timeouts: ClientTimeouts
    /// Recipients per transaction; more go into further transactions on the
    /// same connection (RFC 5321 §4.5.3.1.8: servers must take at least 100).
    public var maxRecipientsPerTransaction: Int
    /// Our own limit on a message's size; larger ones fail with 5.3.4
    /// whatever the server announces. nil: no limit of ours.
    public var maxMessageSize: Int?
    /// Octets read from the queue file per chunk.
    public var bodyChunkSize: Int

    public init(heloName: String, tlsPolicy: TLSPolicy = .opportunistic, verify: CertificateVerification = .none,
                trustRootsFile: String? = nil, tlsServerName: String? = nil, credentials: ClientCredentials? = nil,
                allowPlaintextAuth: Bool = false, timeouts: ClientTimeouts = ClientTimeouts(),
                maxRecipientsPerTransaction: Int = 100, maxMessageSize: Int? = nil, bodyChunkSize: Int = 64 * 1024) {
        self.heloName = heloName
        self.tlsPolicy = tlsPolicy
        self.verify = verify
        self.trustRootsFile = trustRootsFile
        self.tlsServerName = tlsServerName
        self.credentials = credentials
        self.allowPlaintextAuth = allowPlaintextAuth
        self.timeouts = timeouts
        self.maxRecipientsPerTransaction = max(1, maxRecipientsPerTransaction)
        self.maxMessageSize = maxMessageSize
        self.bodyChunkSize = max(1, bodyChunkSize)
    }
}
