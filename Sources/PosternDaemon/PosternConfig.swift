import Foundation
import Logging
import MailQueue
import MTASTS
import Policy
import SMTPCore
import SMTPServer

/// Everything `postern serve` needs. Every setting has a safe default, so
/// no file at all gives a loopback-only relay queueing under ./var/queue.
public struct PosternConfig: Sendable {
    public struct Listener: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// The policy file this listener applies (policies/*.toml), read
        /// with the configuration; nil: the built-in loopback-only policy.
        public var policyFile: String?
        public var policy: PolicyConfig?
        /// `proxy_protocol = true` with `proxy_from`: clients arrive through
        /// these load balancers, each announced by a PROXY header.
        public var proxyProtocol: ProxyProtocolSettings?

        public init(host: String, port: Int, policyFile: String? = nil, policy: PolicyConfig? = nil,
                    proxyProtocol: ProxyProtocolSettings? = nil) {
            self.host = host
            self.port = port
            self.policyFile = policyFile
            self.policy = policy
            self.proxyProtocol = proxyProtocol
        }
    }

    public struct TLS: Sendable, Equatable {
        public var certificateFile: String
        public var keyFile: String
    }

    public var hostname: String = PosternConfig.systemHostname()
    public var listeners: [Listener] = [Listener(host: SMTPDefaults.host, port: SMTPDefaults.port)]
    public var queueDirectory = "./var/queue"
    public var syncMode: MailQueue.SyncMode = .syncfs
    /// Milliseconds a commit may wait for bodies still arriving (`[queue] commit_delay_ms`).
    public var commitDelayMilliseconds = MailQueue.defaultCommitDelay * 1000
    /// MiB of the commit journal, 0: off (`[queue] journal_size_mb`).
    public var journalSizeMiB = MailQueue.defaultJournalSize >> 20
    public var limits = SMTPLimits()
    public var tls: TLS?
    public var logLevel: Logger.Level = .info
    public var logFormat: PosternLogHandler.Format = .logfmt
    /// Seconds SIGTERM waits for sessions in flight before closing them.
    public var shutdownGraceSeconds = 10
    public var delivery = DeliverySettings()
    /// Name servers for MX/A/AAAA (and SPF); empty: /etc/resolv.conf.
    public var dnsServers: [String] = []
    public var dnsTimeoutSeconds = 3.0
    /// `[dns] validating`: the servers validate DNSSEC on a trusted path, so their
    /// AD bit is believed and DANE (RFC 7672) applies to MX delivery.
    public var dnsValidating = false
    /// `[control]`: the Unix socket `postern queue flush|hold|…` talks to.
    public var control = ControlSettings()
    /// `[metrics]`: the HTTP endpoint for Prometheus, /healthz and /readyz.
    public var metrics = MetricsSettings()

    public struct MetricsSettings: Sendable, Equatable {
        /// Off unless a `[metrics]` table is given (where it defaults to on).
        public var enabled = false
        public var address = Listener(host: "127.0.0.1", port: 9125)
    }

    public struct ControlSettings: Sendable, Equatable {
        /// nil: `control.sock` in the queue directory.
        public var socket: String?
        public var mode: UInt32 = 0o660
        /// Group name owning the socket (its members may use it); nil: the daemon's.
        public var group: String?
    }

    /// `[daemon]`: the user and group to run as after binding the listeners.
    public var daemon = DaemonSettings()

    public struct DaemonSettings: Sendable, Equatable {
        /// Started as root: bind, then become this user (Privileges.swift);
        /// nil: stay as started.
        public var user: String?
        /// nil: the user's primary group.
        public var group: String?
    }

    /// Where the control socket is.
    public var controlSocketPath: String { control.socket ?? queueDirectory + "/control.sock" }

    /// `[quarantine]`: the Maildir quarantined messages are moved to.
    public var quarantine = QuarantineSettings()

    public struct QuarantineSettings: Sendable, Equatable {
        /// nil: `quarantine` in the queue directory.
        public var directory: String?
        /// Logins that see (and release or delete) every held message over
        /// IMAP and POP3, not only their own recipients'.
        public var admins: [String] = []
    }

    /// `[imap]` and `[pop3]`: where users read held mail and local Maildirs.
    public struct MailAccessSettings: Sendable, Equatable {
        /// Plain listeners, upgraded with STARTTLS (IMAP) or STLS (POP3).
        public var listeners: [Listener] = []
        /// Implicit-TLS listeners (993, 995).
        public var tlsListeners: [Listener] = []
        /// LOGIN/USER/AUTH before TLS; off unless set (RFC 8314 §3).
        public var allowPlaintextAuth = false
        /// Seconds a session may sit idle (RFC 3501 §5.4: ≥ 30 min for an
        /// authenticated IMAP session; RFC 1939 §3: ≥ 10 min for POP3).
        public var idleTimeoutSeconds: Double
        /// IMAP only: logged-in sessions per user and client address (0: no
        /// limit; Dovecot's `mail_max_userip_connections`, also 10). POP3
        /// allows one session per maildrop anyway (RFC 1939 §8).
        public var maxConnectionsPerUserIP = 10

        public init(idleTimeoutSeconds: Double) {
            self.idleTimeoutSeconds = idleTimeoutSeconds
        }

        public var isEnabled: Bool { !listeners.isEmpty || !tlsListeners.isEmpty }
    }

    public var imap = MailAccessSettings(idleTimeoutSeconds: 1800)
    public var pop3 = MailAccessSettings(idleTimeoutSeconds: 600)

    /// Where the quarantine Maildir is.
    public var quarantineDirectory: String { quarantine.directory ?? queueDirectory + "/quarantine" }

    /// `[delivery]`: how accepted mail leaves.
    public struct DeliverySettings: Sendable, Equatable {
        /// Off: mail stays queued (e.g. a node that only accepts).
        public var enabled = true
        /// Outbound SMTP attempts at once.
        public var workers = 16
        /// Messages in progress at once (most may be waiting for their next hop).
        public var maxActive = 5000
        public var perDestination = 8
        /// Failures in a row that mark a next hop dead; 0: never.
        public var deadAfter = 1
        /// Seconds a dead next hop is left alone before a probe; nil: retry_min.
        public var deadTimeSeconds: Double?
        /// Port for MX delivery.
        public var port = 25
        /// "[host]:port" (no MX lookup) or "host:port" (MX of host).
        public var relayhost: String?
        public var relayUser: String?
        public var relayPassword: String?
        public var relayTLS = "opportunistic"
        public var tls = "opportunistic"
        /// Domain (lowercase) → "[host]:port", "host:port" or "maildir:/template".
        public var routes: [String: String] = [:]
        public var retryMinimumSeconds = 300.0
        public var retryMaximumSeconds = 14_400.0
        public var lifetimeSeconds = 432_000.0
        /// 0 turns the delay warning off.
        public var delayWarningSeconds = 14_400.0
        public var commandTimeoutSeconds = 300.0
        /// MTA-STS (RFC 8461) for MX delivery: on unless turned off.
        public var mtaSTS = true
        /// Port of the policy's HTTPS server: 443 (tests use another).
        public var mtaSTSPort = 443
        /// PEM trust roots for verified outbound TLS; nil: the system's.
        public var tlsCAFile: String?

        /// How the MTA-STS policy is fetched.
        public var mtaSTSFetchSettings: MTASTSFetcher.Settings {
            MTASTSFetcher.Settings(port: mtaSTSPort, trustRootsFile: tlsCAFile)
        }

        /// The `maildir:` routes by domain, parsed.
        public var maildirRoutes: [String: MaildirRoute] {
            routes.compactMapValues { try? MaildirRoute(parsing: $0) }
        }

        /// The Maildir local delivery writes `address`'s mail into
        /// ("bob@example.org" → "/var/mail/example.org/bob"), or nil when
        /// its domain has no `maildir:` route or the address cannot have a
        /// Maildir. Pure: for an IMAP or POP3 user named by an address.
        public func maildirPath(for address: String) -> String? {
            guard let at = address.lastIndex(of: "@") else { return nil }
            return maildirRoutes[address[address.index(after: at)...].lowercased()]?.path(for: address)
        }
    }

    public init() {}

    static func systemHostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    /// "HOST:PORT" or "[V6]:PORT".
    public static func parseListenAddress(_ text: String) -> Listener? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else { return nil }
        return Listener(host: String(host), port: port)
    }
}

/// One mistake in a configuration file: where it is and what is wrong.
public struct ConfigIssue: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if let key { text += ": \(key)" }
        return text + ": " + message
    }
}

public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
