import DKIM
import Dispatch
import Foundation
import Logging
import MailQueue
import MailStore
import IMAPServer
import NIOCore
import NIOPosix
import NIOSSL
import POP3Core
import POP3Server
import SMTPServer
import Delivery
import MTASTS
import DNS
import DNSModel
import Policy
import SPF
import Scanning
import ServiceLifecycle
import UnixSignals

/// The running relay: the queue, the listeners, delivery and the control
/// socket, each a `Service` in one swift-service-lifecycle `ServiceGroup`.
/// SIGTERM/SIGINT stop them in reverse order: listeners stop accepting and
/// let sessions in flight finish (up to `shutdownGraceSeconds`), the control
/// socket goes, delivery lets attempts in flight end; then the committer
/// drains and the queue is closed intact. SIGHUP reloads (`Reloader`).
public final class Daemon: Sendable {
    public let config: PosternConfig
    let source: ConfigSource
    let logger: Logger

    public init(config: PosternConfig, source: ConfigSource = ConfigSource(file: nil), logger: Logger) {
        self.config = config
        self.source = source
        self.logger = logger
    }

    public static func makeLogger(config: PosternConfig) -> Logger {
        let format = config.logFormat
        let level = config.logLevel
        return Logger(label: "postern") { label in PosternLogHandler(label: label, format: format, level: level) }
    }

    public func run() async throws {
        // Two daemons on one queue would purge each other's incoming mail.
        let controlPath = config.controlSocketPath
        if ControlClient(path: controlPath).isAlive(countingRefusedAccess: true) { throw ControlServer.StartError.inUse(controlPath) }
        // The facade first, so every metric made from here on is exported.
        if config.metrics.enabled { _ = MetricsExporter.shared }
        // SIGTERM/SIGINT are trapped before any socket answers: a signal
        // that comes while the daemon is still starting (a client greeted,
        // the service group not yet running) is kept and stops it then,
        // rather than killing the process with the default action.
        let stop = ShutdownRequest()
        let stopSignals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let signalTask = Task { [logger] in
            for await signal in stopSignals {
                logger.notice("signal received, stopping", metadata: ["signal": "\(signal)"])
                await stop.request()
            }
        }
        defer { signalTask.cancel() }
        // Bound while still root, accepting only once [daemon] user is taken on (Privileges.swift).
        let listenSockets = try Privileges.bindListenersThenDrop(config: config, logger: logger)
        let queue = try MailQueue(directory: config.queueDirectory, syncMode: config.syncMode,
                                  commitDelay: config.commitDelayMilliseconds / 1000, journalSize: config.journalSizeMiB << 20)
        let recovery = queue.recovery
        logger.info("queue opened", metadata: [
            "dir": "\(config.queueDirectory)", "sync": "\(config.syncMode.rawValue)", "messages": "\(recovery.loaded)",
            "corrupt": "\(recovery.corrupt.count)", "orphans_removed": "\(recovery.orphanBodies)",
            "journal_restored": "\(recovery.journalRestored)", "journal_removed": "\(recovery.journalRemoved)",
        ])
        if let reason = recovery.journalUnavailable {
            logger.warning("commit journal off: each batch syncs the filesystem instead", metadata: ["reason": "\(reason)"])
        }
        for id in recovery.corrupt {
            logger.warning("unreadable envelope moved to corrupt/", metadata: ["id": "\(id)"])
        }
        let tls = try Self.makeTLS(config)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let sessions = SessionRegistry()
        FileDescriptorLimit.raise(logger: logger)
        var context = ServerContext(hostname: config.hostname, limits: config.limits, tls: tls, queue: queue,
                                    logger: logger, connections: makeConnectionLimiter(sessions: sessions), sessions: sessions)
        let needsSPF = config.listeners.contains { $0.policy?.spf.enabled == true }
        let dns = config.delivery.enabled || needsSPF ? try makeResolver() : nil
        let agent = try dns.flatMap { dns in
            config.delivery.enabled ? try makeDeliveryAgent(queue: queue, group: group, resolver: dns.cache) : nil
        }
        if let agent {
            context.onCommit = { agent.enqueue($0, body: $1) }
            try agent.loadQueue()
            logger.info("delivery started", metadata: ["workers": "\(config.delivery.workers)",
                                                       "waiting": "\(agent.scheduler.waitingCount)"])
        } else {
            logger.info("delivery is off: accepted mail stays queued")
        }
        let mover = QuarantineMover(maildir: QuarantineMaildir(directory: config.quarantineDirectory, hostname: config.hostname),
                                    queue: queue, agent: agent, logger: logger)
        context.onQuarantine = { mover.move($0) }
        try mover.recover()
        var channels: [Channel] = []
        let readiness = Readiness(queueDirectory: config.queueDirectory)
        do {
            let metricsChannel = try await startMetrics(queue: queue, agent: agent, quarantine: mover.maildir,
                                                        readiness: readiness, group: group)
            if let metricsChannel { channels.append(metricsChannel) }
            let listenerChannels = channels.count
            let listeners = try await bindListeners(Array(listenSockets.prefix(config.listeners.count)), context: context,
                                                   resolver: dns?.cache, group: group, channels: &channels)
            let closeMailSessions = try await startMailAccess(MailAccess.Sockets(listenSockets, config: config), smtp: listeners,
                                                              mover: mover, tls: tls, group: group, channels: &channels)
            let reloader = Reloader(source: source, running: config, listeners: listeners, agent: agent,
                                    resolver: dns?.cache, group: group, logger: logger)
            let control = try await bindControlSocket(queue: queue, agent: agent, mover: mover, reloader: reloader, group: group)
            // Stopped in reverse: the SIGHUP handler, the listeners (the grace
            // period), the metrics endpoint (so /readyz answers meanwhile),
            // the control socket, delivery, the DNS threads, the quarantine
            // mover (a move or release under way finishes), and last the
            // committer, which drains what is still being committed.
            var services: [any Service] = [QueueService(queue: queue), QuarantineService(mover: mover)]
            if let dns { services.append(ResolverService(resolver: dns.upstream)) }
            if let agent { services.append(DeliveryService(agent: agent)) }
            services.append(ControlService(server: control.server, channel: control.channel))
            if let metricsChannel { services.append(ChannelService(channel: metricsChannel)) }
            services.append(ListenerService(channels: Array(channels[listenerChannels...]), sessions: sessions,
                                            grace: .seconds(config.shutdownGraceSeconds), logger: logger,
                                            onShutdown: {
                                                readiness.setListening(false)
                                                closeMailSessions()
                                            }))
            services.append(ReloadService(reloader: reloader))
            channels.append(control.channel)
            let serviceGroup = ServiceGroup(configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
            await stop.attach(serviceGroup)
            readiness.setListening(true)
            try await serviceGroup.run()
        } catch {
            for channel in channels { try? await channel.close() }
            dns?.upstream.shutdown()
            try await group.shutdownGracefully()
            queue.close()
            throw error
        }
        try await group.shutdownGracefully()
        let stats = queue.stats
        logger.info("queue commit stats", metadata: [
            "messages": "\(stats.messages)", "sync_calls": "\(stats.syncCalls)", "batches": "\(stats.batches)",
            "failures": "\(stats.failures)",
        ])
    }

    /// The server's TLS context for STARTTLS, if a certificate is configured.
    static func makeTLS(_ config: PosternConfig) throws -> NIOSSLContext? {
        try config.tls.map { tls in
            var tlsConfig = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.keyFile, format: .pem)))
            tlsConfig.minimumTLSVersion = .tlsv12
            return try NIOSSLContext(configuration: tlsConfig)
        }
    }

    /// Connection limits, and Postfix's stress mode when the table fills.
    private func makeConnectionLimiter(sessions: SessionRegistry) -> ConnectionLimiter {
        let limits = config.limits
        let logger = self.logger
        return ConnectionLimiter(
            maxTotal: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerIP,
            stressPercent: limits.stressThresholdPercent
        ) { stressed, open in
            // Idle and slow clients give their slots up sooner.
            logger.notice(stressed ? "stress mode on: connection table nearly full, timers shortened"
                                   : "stress mode off: timers back to normal",
                          metadata: ["open": "\(open)", "max": "\(limits.maxConnections)",
                                     "stress_timeout": "\(limits.stressTimeoutSeconds)"])
            sessions.announceTimerChange()
        }
    }

    /// Binds every listener; `channels` collects them (to close on failure).
    private func bindListeners(_ sockets: [ListenSocket], context: ServerContext, resolver: CachingResolver?,
                               group: EventLoopGroup, channels: inout [Channel]) async throws -> [SMTPListener] {
        var listeners: [SMTPListener] = []
        let policies = try Self.makePolicies(config, resolver: resolver, group: group)
        try await Self.prepareScanners(policies)
        for ((listener, policy), socket) in zip(zip(config.listeners, policies), sockets) {
            var listenerContext = context
            listenerContext.policy = policy
            listenerContext.proxyProtocol = listener.proxyProtocol
            let smtpListener = SMTPListener(host: listener.host, port: listener.port, context: listenerContext, group: group)
            channels.append(try await smtpListener.bind(socket: socket))
            listeners.append(smtpListener)
            var metadata: Logger.Metadata = ["address": "\(listener.host):\(listener.port)", "tls": "\(context.tls != nil)",
                                             "policy": "\(listener.policyFile ?? "built-in")"]
            if let proxy = listener.proxyProtocol {
                metadata["proxy_from"] = "\(proxy.trustedProxies.map(\.description).joined(separator: ","))"
            }
            logger.info("listening", metadata: metadata)
        }
        return listeners
    }

    /// IMAP and POP3 listeners, when configured (issue #14).
    /// Returns what tells their sessions the daemon is stopping.
    private func startMailAccess(_ sockets: MailAccess.Sockets, smtp: [SMTPListener], mover: QuarantineMover,
                                 tls: NIOSSLContext?, group: EventLoopGroup,
                                 channels: inout [Channel]) async throws -> @Sendable () -> Void {
        var closers: [@Sendable () -> Void] = []
        guard config.imap.isEnabled || config.pop3.isEnabled else { return {} }
        let authListener = MailAccess.authListener(smtp)
        let accounts = MailAccess.accounts(config: config, mover: mover, authListener: authListener,
                                           localMaildir: { [delivery = config.delivery] in delivery.maildirPath(for: $0) })
        let auth = MailAccess.auth(authListener)
        let trusted = MailAccess.trusted(authListener)
        // One count for the plain and the implicit-TLS listeners.
        let userSessions = config.imap.maxConnectionsPerUserIP > 0 ? IMAPUserSessions(limit: config.imap.maxConnectionsPerUserIP) : nil
        for (sockets, implicitTLS) in [(sockets.imap, false), (sockets.imapTLS, true)] {
            for socket in sockets {
                var context = IMAPServerContext(
                    hostname: config.hostname, tls: tls, implicitTLS: implicitTLS,
                    allowPlaintextAuth: config.imap.allowPlaintextAuth,
                    idleTimeout: .seconds(Int64(config.imap.idleTimeoutSeconds)), accounts: accounts, auth: auth,
                    // SMTP's connection limits, as POP3 below: one budget of sockets.
                    connections: smtp.first?.context.connections, logger: logger)
                context.exemptFromPerAddressLimit = trusted
                context.stressLoginTimeout = .seconds(Int64(config.limits.stressTimeoutSeconds))
                context.userSessions = userSessions
                let listener = IMAPListener(host: socket.host, port: socket.port, context: context, group: group)
                channels.append(try await listener.bind(socket: socket))
                closers.append { listener.closeSessions() }
                logger.info("listening", metadata: ["address": "\(socket.host):\(socket.port)", "proto": "imap",
                                                    "tls": "\(implicitTLS ? "implicit" : "starttls")"])
            }
        }
        if config.pop3.isEnabled {
            var limits = POP3Defaults.limits
            limits.idleTimeoutSeconds = config.pop3.idleTimeoutSeconds
            // SMTP's connection limits and session registry: a shutdown
            // reaches POP3 sessions too, and waits for their UPDATE.
            var pop3 = POP3ServerContext(
                hostname: config.hostname, tls: tls, allowPlaintextAuth: config.pop3.allowPlaintextAuth,
                auth: auth, accounts: accounts, logger: logger, limits: limits,
                connections: smtp.first?.context.connections, sessions: smtp.first?.context.sessions)
            pop3.exemptFromPerAddressLimit = trusted
            channels += try await POP3Listener.start(plain: sockets.pop3, implicitTLS: sockets.pop3TLS, context: pop3, group: group)
        }
        let all = closers
        return { all.forEach { $0() } }
    }

    private func bindControlSocket(queue: MailQueue, agent: DeliveryAgent?, mover: QuarantineMover, reloader: Reloader,
                                   group: EventLoopGroup) async throws -> (server: ControlServer, channel: Channel) {
        let control = QueueControl(queue: queue, agent: agent, logger: logger)
        var settings = ControlServer.Settings(path: config.controlSocketPath)
        settings.mode = mode_t(config.control.mode)
        settings.group = config.control.group.flatMap { getgrnam($0)?.pointee.gr_gid }
        let server = ControlServer(settings: settings, logger: logger) { request in
            if request.command == .reload { return await reloader.reload().reply }
            return await ControlDispatcher.handle(request, control: control, mover: mover)
        }
        let channel = try await server.bind(group: group)
        logger.info("control socket", metadata: ["path": "\(settings.path)"])
        return (server, channel)
    }

    /// One resolver (with its cache) for delivery and SPF; `[dns] servers`
    /// or else /etc/resolv.conf.
    func makeResolver() throws -> (upstream: LDNSResolver, cache: CachingResolver) {
        let servers: [DNSServerAddress]
        if config.dnsServers.isEmpty {
            servers = try DNSServerAddress.fromResolvConf()
        } else {
            servers = config.dnsServers.compactMap { DNSServerAddress(parsing: $0) }
        }
        let upstream = try LDNSResolver(configuration: .init(servers: servers, timeout: .milliseconds(Int(config.dnsTimeoutSeconds * 1000)),
                                                             validating: config.dnsValidating))
        return (upstream, CachingResolver(upstream: upstream))
    }

    /// Each listener's policy file made into filters and back ends.
    /// Listeners naming the same file share one policy, so its rate and AUTH
    /// failure counters see all of a client's connections.
    /// `previous` (a reload): each listener's policy in force now, whose
    /// counters carry over where the settings are the same.
    /// Loads what the policies' scanners need (ClamAV engines) before they
    /// take mail.
    static func prepareScanners(_ policies: [ListenerPolicy]) async throws {
        for policy in policies {
            for case let filter as ScanFilter in policy.pipeline.filters { try await filter.prepare() }
        }
    }

    /// A policy's `[[scan]]` scanners are built here (and so checked: a
    /// scanner that cannot be made stops the start, or the reload).
    static func makePolicies(_ config: PosternConfig, resolver: (any DNSResolver)?, group: EventLoopGroup,
                             previous: [ListenerPolicy?] = []) throws -> [ListenerPolicy] {
        var shared: [String: ListenerPolicy] = [:]
        return try config.listeners.enumerated().map { index, listener in
            guard let policy = listener.policy else { return .builtIn(hostname: config.hostname) }
            if let file = listener.policyFile, let existing = shared[file] { return existing }
            let scan = try ScanFilter.make(rules: policy.scans, hostname: config.hostname, group: group)
            // DKIM and DMARC first: a refusal spares the scanners the work.
            var content: [any PolicyFilter] = []
            if let dmarc = try DMARCFilter.make(policy: policy, resolver: resolver, hostname: config.hostname) { content.append(dmarc) }
            if let scan { content.append(scan) }
            var made = ListenerPolicy.make(
                policy: policy, hostname: config.hostname,
                spf: resolver.map { SPFEvaluator(resolver: $0, configuration: SPFConfiguration(receivingHost: config.hostname)) },
                previous: index < previous.count ? previous[index] : nil, contentFilters: content)
            // Keys are read again at every start and reload (the loader checked them).
            made.dkim = DKIMPolicyNames.signingTable(policy.dkimSign)
            if let file = listener.policyFile { shared[file] = made }
            return made
        }
    }

    /// `[delivery.routes]` and the relayhost as the router takes them.
    static func destinations(_ settings: PosternConfig.DeliverySettings)
        -> (routes: [String: Router.Route], relayhost: Router.Destination?) {
        func destination(_ text: String) -> Router.Destination? {
            TableReader.parseDestination(text).map { Router.Destination(host: $0.host, port: $0.port ?? 25, lookUpMX: $0.lookUpMX) }
        }
        func route(_ text: String) -> Router.Route? {
            if let maildir = try? MaildirRoute(parsing: text) { return .maildir(maildir) }
            return destination(text).map(Router.Route.smtp)
        }
        return (settings.routes.compactMapValues(route), settings.relayhost.flatMap(destination))
    }

    func makeDeliveryAgent(queue: MailQueue, group: EventLoopGroup, resolver: CachingResolver) throws -> DeliveryAgent {
        let settings = config.delivery
        let (routes, relay) = Self.destinations(settings)
        var delivery = DeliveryConfiguration(hostname: config.hostname)
        delivery.workers = settings.workers
        delivery.maxActive = settings.maxActive
        delivery.perDestinationLimit = settings.perDestination
        // As Postfix's queue manager: a dead destination rests for minimal_backoff_time unless told otherwise.
        delivery.deadDestinations = DestinationHealth.Policy(deadAfter: settings.deadAfter,
                                                             deadTime: settings.deadTimeSeconds ?? settings.retryMinimumSeconds)
        delivery.routes = routes
        delivery.relayhost = relay
        if let user = settings.relayUser, let password = settings.relayPassword {
            delivery.relayCredentials = ClientCredentials(user: user, password: password)
        }
        delivery.relayTLS = TLSPolicy(rawValue: settings.relayTLS) ?? .opportunistic
        delivery.tlsPolicy = TLSPolicy(rawValue: settings.tls) ?? .opportunistic
        delivery.smtpPort = settings.port
        delivery.dane = config.dnsValidating
        delivery.retry = RetrySchedule(minimumDelay: settings.retryMinimumSeconds, maximumDelay: settings.retryMaximumSeconds,
                                       lifetime: settings.lifetimeSeconds,
                                       delayWarningAfter: settings.delayWarningSeconds > 0 ? settings.delayWarningSeconds : nil)
        let timeout = TimeAmount.milliseconds(Int64(settings.commandTimeoutSeconds * 1000))
        delivery.timeouts = ClientTimeouts(all: timeout)
        delivery.tlsTrustRootsFile = settings.tlsCAFile
        let router = Router(routes: routes, relayhost: relay, smtpPort: settings.port, resolver: resolver)
        let mtaSTS = settings.mtaSTS ? MTASTSPolicySource(
            resolver: resolver, fetcher: MTASTSFetcher(resolver: resolver, group: group, settings: settings.mtaSTSFetchSettings),
            cacheFile: MTASTSCacheFile(directory: config.queueDirectory + "/mta-sts"), logger: logger) : nil
        return DeliveryAgent(queue: queue, router: router, configuration: delivery, group: group, logger: logger, mtaSTS: mtaSTS)
    }
}

/// A stop asked for by a signal, before or after the service group exists
/// (a request made before it runs is remembered by the group).
actor ShutdownRequest {
    private var group: ServiceGroup?
    private var requested = false

    func request() async {
        requested = true
        await group?.triggerGracefulShutdown()
    }

    func attach(_ group: ServiceGroup) async {
        self.group = group
        if requested { await group.triggerGracefulShutdown() }
    }
}
