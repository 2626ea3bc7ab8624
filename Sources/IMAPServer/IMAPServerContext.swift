import IMAPCore
import Logging
import MailStore
import NIOCore
import NIOSSL
import SMTPServer

/// What every IMAP session of a listener shares.
public struct IMAPServerContext: Sendable {
    public var hostname: String
    /// For STARTTLS, or for the whole connection on an implicit-TLS listener.
    public var tls: NIOSSLContext?
    public var implicitTLS: Bool
    /// LOGIN and AUTHENTICATE before TLS (RFC 3501 §6.2.3 LOGINDISABLED otherwise).
    public var allowPlaintextAuth: Bool
    /// RFC 3501 §5.4: at least 30 minutes once logged in.
    public var idleTimeout: TimeAmount
    /// Before login a client gets less (it has nothing to wait for).
    public var loginTimeout: TimeAmount
    /// How often an IDLE session looks for changes.
    public var idlePollInterval: TimeAmount
    public var accounts: any MailAccounts
    /// The password file and failure throttle of the policy in force
    /// (read for every login, so a reload applies at once).
    public var auth: @Sendable () -> (passwords: PasswordFile?, throttle: AuthThrottle?)
    public var limits: IMAPLimits
    /// The daemon's connection limits (`[limits] max_connections`,
    /// `max_connections_per_ip`), which IMAP sessions count towards as SMTP
    /// and POP3 ones do: a client cannot hold more sockets by switching protocol.
    public var connections: ConnectionLimiter?
    /// Clients exempt from `max_connections_per_ip` (the trusted networks
    /// of the policy whose passwords IMAP uses, as for SMTP).
    public var exemptFromPerAddressLimit: @Sendable (String) -> Bool = { _ in false }
    /// The login timeout while the connection table is nearly full (SMTP's
    /// stress mode, `[limits] stress_timeout`): sessions that have not
    /// logged in hold their places no longer than SMTP sessions do. Logged-in
    /// sessions keep the idle timeout RFC 3501 §5.4 asks for.
    public var stressLoginTimeout: TimeAmount = .seconds(10)
    /// Logged-in sessions per user and client address (nil: no limit).
    public var userSessions: IMAPUserSessions?
    public var logger: Logger

    public init(hostname: String, tls: NIOSSLContext?, implicitTLS: Bool, allowPlaintextAuth: Bool,
                idleTimeout: TimeAmount = .minutes(30), loginTimeout: TimeAmount = .seconds(60),
                idlePollInterval: TimeAmount = .seconds(2), accounts: any MailAccounts,
                auth: @escaping @Sendable () -> (passwords: PasswordFile?, throttle: AuthThrottle?),
                limits: IMAPLimits = IMAPDefaults.limits, connections: ConnectionLimiter? = nil, logger: Logger) {
        self.hostname = hostname
        self.tls = tls
        self.implicitTLS = implicitTLS
        self.allowPlaintextAuth = allowPlaintextAuth
        self.idleTimeout = idleTimeout
        self.loginTimeout = loginTimeout
        self.idlePollInterval = idlePollInterval
        self.accounts = accounts
        self.auth = auth
        self.limits = limits
        self.connections = connections
        self.logger = logger
    }
}
