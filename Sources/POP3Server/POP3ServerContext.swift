import Logging
import MailStore
import NIOCore
import NIOSSL
import POP3Core
import SMTPServer
import Synchronization

/// What every POP3 session of one `POP3Listener.start` shares.
public struct POP3ServerContext: Sendable {
    public var hostname: String
    /// The certificate: STLS on plain listeners, the handshake on implicit-TLS ones.
    public var tls: NIOSSLContext?
    /// USER/PASS and AUTH before TLS (RFC 2595 §2.2: off unless asked for).
    public var allowPlaintextAuth: Bool
    /// The SMTP AUTH password file (nil refuses every login, [SYS/TEMP])
    /// and its failure throttle, shared with SMTP AUTH so a guesser gains
    /// nothing by switching protocol; asked at each login, so a reload's
    /// new ones apply.
    public var auth: @Sendable () -> (passwords: PasswordFile?, throttle: AuthThrottle?)
    public var accounts: any MailAccounts
    public var logger: Logger
    public var limits: POP3Limits
    /// How long a failed login waits for its -ERR (as Dovecot's
    /// auth_failure_delay): a guesser gets fewer tries per connection-second.
    public var failureDelay: TimeAmount
    /// The daemon's connection limits, if POP3 is to count towards them.
    public var connections: ConnectionLimiter?
    /// Clients exempt from `max_connections_per_ip` (the trusted networks
    /// of the policy whose passwords POP3 uses, as for SMTP).
    public var exemptFromPerAddressLimit: @Sendable (String) -> Bool = { _ in false }
    /// The daemon's open sessions, so a shutdown reaches POP3 clients too.
    public var sessions: SessionRegistry?
    /// One POP3 session per maildrop at a time (RFC 1939 §8).
    let locks = MaildropLocks()

    public init(hostname: String, tls: NIOSSLContext?, allowPlaintextAuth: Bool,
                auth: @escaping @Sendable () -> (passwords: PasswordFile?, throttle: AuthThrottle?),
                accounts: any MailAccounts, logger: Logger,
                limits: POP3Limits = POP3Defaults.limits, failureDelay: TimeAmount = .seconds(1),
                connections: ConnectionLimiter? = nil, sessions: SessionRegistry? = nil) {
        self.hostname = hostname
        self.tls = tls
        self.allowPlaintextAuth = allowPlaintextAuth
        self.auth = auth
        self.accounts = accounts
        self.logger = logger
        self.limits = limits
        self.failureDelay = failureDelay
        self.connections = connections
        self.sessions = sessions
    }
}

/// The users whose maildrop a POP3 session holds now. RFC 1939 §8 asks for
/// an exclusive lock so two sessions cannot renumber and delete under each
/// other; a second login is answered -ERR [IN-USE] (RFC 2449 §8.1.2).
final class MaildropLocks: Sendable {
    private let held = Mutex<Set<String>>([])

    /// True when the lock was free and is now the caller's.
    func acquire(_ user: String) -> Bool {
        held.withLock { $0.insert(user).inserted }
    }

    func release(_ user: String) {
        _ = held.withLock { $0.remove(user) }
    }
}
