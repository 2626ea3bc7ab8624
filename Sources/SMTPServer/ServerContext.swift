import Logging
import Policy
import MailQueue
import NIOCore
import NIOSSL
import SMTPCore

/// What every session of one listener shares.
public struct ServerContext: Sendable {
    public var hostname: String
    public var limits: SMTPLimits
    /// Offered through STARTTLS when set.
    public var tls: NIOSSLContext?
    public var queue: MailQueue
    public var logger: Logger
    public var connections: ConnectionLimiter
    public var sessions: SessionRegistry
    /// The listener's policy (relay control, AUTH, filters, header rules).
    public var policy: ListenerPolicy
    /// Set when the listener sits behind load balancers that send a PROXY
    /// protocol header: the session's client is the one the header names.
    public var proxyProtocol: ProxyProtocolSettings?
    /// Called once a message is durably queued, with the envelope as written
    /// and the body when it never left memory (the delivery side starts it
    /// without reading either back).
    public var onCommit: @Sendable (Envelope, HeldBody?) -> Void = { _, _ in }
    /// Called once a quarantined message is durably queued (the quarantine
    /// mover takes it to the Maildir).
    public var onQuarantine: @Sendable (QueueID) -> Void = { _ in }

    public init(hostname: String, limits: SMTPLimits, tls: NIOSSLContext?, queue: MailQueue, logger: Logger,
                connections: ConnectionLimiter, sessions: SessionRegistry = SessionRegistry(),
                policy: ListenerPolicy? = nil) {
        self.sessions = sessions
        self.policy = policy ?? .builtIn(hostname: hostname)
        self.hostname = hostname
        self.limits = limits
        self.tls = tls
        self.queue = queue
        self.logger = logger
        self.connections = connections
    }
}
