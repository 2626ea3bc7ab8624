import Foundation
import MailQueue
import NIOCore

/// How the delivery side behaves; built from `[delivery]` in postern.toml.
public struct DeliveryConfiguration: Sendable {
    /// Our name in EHLO and in DSNs.
    public var hostname: String
    /// Outbound SMTP attempts at work at the same time. Messages waiting for
    /// a busy or dead next hop hold none.
    public var workers = 16
    /// Messages in progress at once, most of them perhaps waiting for their
    /// next hop (Postfix's qmgr_message_active_limit).
    public var maxActive = 5000
    /// Connections at the same time to one next hop (host:port).
    public var perDestinationLimit = 8
    /// When a next hop counts as dead, and for how long.
    public var deadDestinations = DestinationHealth.Policy()
    /// `[delivery.routes]`: a next hop or local Maildirs per domain.
    public var routes: [String: Router.Route] = [:]
    public var relayhost: Router.Destination?
    public var relayCredentials: ClientCredentials?
    /// TLS towards the relayhost: `.required` refuses to send in plaintext.
    public var relayTLS: TLSPolicy = .opportunistic
    /// TLS towards everything else.
    public var tlsPolicy: TLSPolicy = .opportunistic
    /// DANE for MX delivery (RFC 7672): on when the resolver validates DNSSEC.
    public var dane = false
    /// PEM trust roots for verified outbound TLS (MTA-STS: the policy fetch
    /// and MX certificates); nil: the system's.
    public var tlsTrustRootsFile: String?
    /// Port for MX delivery (25).
    public var smtpPort = 25
    public var retry = RetrySchedule()
    /// Seconds an open connection waits for another message to the same hop.
    public var connectionIdleSeconds: TimeInterval = 5
    public var timeouts = ClientTimeouts()

    public init(hostname: String) {
        self.hostname = hostname
    }
}
