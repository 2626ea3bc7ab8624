import Dispatch
import Foundation
import Logging
import MailQueue
import NIOCore
import NIOPosix
import NIOSSL
import SMTPServer
import Delivery
import DNS
import DNSModel
import Policy
import SPF

/// The running relay: the queue, the listeners, and signal handling.
/// SIGTERM/SIGINT stop accepting, let sessions in flight finish (up to
/// `shutdownGraceSeconds`), drain the committer and exit with the queue intact.
public final class Daemon: Sendable {
    public let config: PosternConfig
    let logger: Logger

    public init(config: PosternConfig, logger: Logger) {
        self.config = config
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
        if ControlClient(path: controlPath).isAlive() { throw ControlServer.StartError.inUse(controlPath) }
        // Bound while still root, accepting only once [daemon] user is taken on (Privileges.swift).
        let listenSockets = try Privileges.bindListenersThenDrop(config: config, logger: logger)
        let queue = try MailQueue(directory: config.queueDirectory, syncMode: config.syncMode)
        let recovery = queue.recovery
        logger.info("queue opened", metadata: [
            "dir": "\(config.queueDirectory)", "sync": "\(config.syncMode.rawValue)", "messages": "\(recovery.loaded)",
            "corrupt": "\(recovery.corrupt.count)", "orphans_removed": "\(recovery.orphanBodies)",
        ])
        for id in recovery.corrupt {
            logger.warning("unreadable envelope moved to corrupt/", metadata: ["id": "\(id)"])
        }
        let tls = try config.tls.map { tls in
            var tlsConfig = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.keyFile, format: .pem)))
            tlsConfig.minimumTLSVersion = .tlsv12
            return try NIOSSLContext(configuration: tlsConfig)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let sessions = SessionRegistry()
        let limits = config.limits
        let logger = self.logger
        let connections = ConnectionLimiter(
            maxTotal: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerIP,
            stressPercent: limits.stressThresholdPercent
        ) { stressed, open in
            // Postfix's stress mode: idle and slow clients give their slots up sooner.
            logger.notice(stressed ? "stress mode on: connection table nearly full, timers shortened"
                                   : "stress mode off: timers back to normal",
                          metadata: ["open": "\(open)", "max": "\(limits.maxConnections)",
                                     "stress_timeout": "\(limits.stressTimeoutSeconds)"])
            sessions.announceTimerChange()
        }
        FileDescriptorLimit.raise(logger: logger)
        var context = ServerContext(hostname: config.hostname, limits: config.limits, tls: tls, queue: queue,
                                    logger: logger, connections: connections, sessions: sessions)
        let needsSPF = config.listeners.contains { $0.policy?.spf.enabled == true }
        let dns = config.delivery.enabled || needsSPF ? try makeResolver() : nil
        let agent = try dns.flatMap { dns in
            config.delivery.enabled ? try makeDeliveryAgent(queue: queue, group: group, resolver: dns.cache) : nil
        }
        if let agent {
            context.onCommit = { agent.enqueue($0) }
            try agent.loadQueue()
            logger.info("delivery started", metadata: ["workers": "\(config.delivery.workers)",
                                                       "waiting": "\(agent.scheduler.waitingCount)"])
        } else {
            logger.info("delivery is off: accepted mail stays queued")
        }
        let deliveryTask = agent.map { agent in Task { await agent.run() } }
        var channels: [Channel] = []
        do {
            // Listeners naming the same file share one policy, so its rate
            // and AUTH failure counters see all of a client's connections.
            var policies: [String: ListenerPolicy] = [:]
            for (listener, socket) in zip(config.listeners, listenSockets) {
                var listenerContext = context
                let policy = listener.policyFile.flatMap { policies[$0] } ?? makePolicy(listener, resolver: dns?.cache)
                if let file = listener.policyFile { policies[file] = policy }
                listenerContext.policy = policy
                let channel = try await SMTPListener(host: listener.host, port: listener.port, context: listenerContext,
                                                     group: group).bind(socket: socket)
                logger.info("listening", metadata: ["address": "\(listener.host):\(listener.port)", "tls": "\(tls != nil)",
                                                    "policy": "\(listener.policyFile ?? "built-in")"])
                channels.append(channel)
            }
        } catch {
            for channel in channels { try? await channel.close() }
            try await group.shutdownGracefully()
            queue.close()
            throw error
        }

        let control = QueueControl(queue: queue, agent: agent, logger: logger)
        var controlSettings = ControlServer.Settings(path: controlPath)
        controlSettings.mode = mode_t(config.control.mode)
        controlSettings.group = config.control.group.flatMap { getgrnam($0)?.pointee.gr_gid }
        let controlServer = ControlServer(settings: controlSettings, logger: logger) { request in
            await ControlDispatcher.handle(request, control: control)
        }
        do {
            channels.append(try await controlServer.bind(group: group))
            logger.info("control socket", metadata: ["path": "\(controlPath)"])
        } catch {
            for channel in channels { try? await channel.close() }
            try await group.shutdownGracefully()
            queue.close()
            throw error
        }

        let signal = await Self.waitForTermination()
        logger.info("shutting down", metadata: ["signal": "\(signal)"])
        for channel in channels { try? await channel.close() }
        // Idle sessions get 421 now; transactions in flight may finish.
        sessions.announceShutdown()
        let deadline = Date().addingTimeInterval(Double(config.shutdownGraceSeconds))
        while sessions.count > 0 && Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        if sessions.count > 0 {
            logger.info("grace period over, closing sessions", metadata: ["sessions": "\(sessions.count)"])
            sessions.closeAll()
            let hardDeadline = Date().addingTimeInterval(2)
            while sessions.count > 0 && Date() < hardDeadline {
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        if let agent, let deliveryTask {
            agent.stop() // deliveries in flight finish or stay deferred
            await deliveryTask.value
        }
        controlServer.removeSocket()
        dns?.upstream.shutdown()
        try await group.shutdownGracefully()
        queue.close()
        let stats = queue.stats
        logger.info("queue commit stats", metadata: [
            "messages": "\(stats.messages)", "sync_calls": "\(stats.syncCalls)", "batches": "\(stats.batches)",
            "failures": "\(stats.failures)",
        ])
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
        let upstream = try LDNSResolver(configuration: .init(servers: servers, timeout: .milliseconds(Int(config.dnsTimeoutSeconds * 1000))))
        return (upstream, CachingResolver(upstream: upstream))
    }

    /// The listener's policy file made into filters and back ends.
    func makePolicy(_ listener: PosternConfig.Listener, resolver: (any DNSResolver)?) -> ListenerPolicy {
        guard let policy = listener.policy else { return .builtIn(hostname: config.hostname) }
        return ListenerPolicy.make(policy: policy, hostname: config.hostname,
                                   spf: resolver.map { SPFEvaluator(resolver: $0, configuration: SPFConfiguration(receivingHost: config.hostname)) })
    }

    func makeDeliveryAgent(queue: MailQueue, group: EventLoopGroup, resolver: CachingResolver) throws -> DeliveryAgent {
        let settings = config.delivery
        func destination(_ text: String) -> Router.Destination? {
            TableReader.parseDestination(text).map { Router.Destination(host: $0.host, port: $0.port ?? 25, lookUpMX: $0.lookUpMX) }
        }
        let routes = settings.routes.compactMapValues(destination)
        let relay = settings.relayhost.flatMap(destination)
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
        delivery.retry = RetrySchedule(minimumDelay: settings.retryMinimumSeconds, maximumDelay: settings.retryMaximumSeconds,
                                       lifetime: settings.lifetimeSeconds,
                                       delayWarningAfter: settings.delayWarningSeconds > 0 ? settings.delayWarningSeconds : nil)
        let timeout = TimeAmount.milliseconds(Int64(settings.commandTimeoutSeconds * 1000))
        delivery.timeouts = ClientTimeouts(all: timeout)
        let router = Router(routes: routes, relayhost: relay, smtpPort: settings.port, resolver: resolver)
        return DeliveryAgent(queue: queue, router: router, configuration: delivery, group: group, logger: logger)
    }

    /// Suspends until SIGTERM or SIGINT; returns its name.
    static func waitForTermination() async -> String {
        await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let queue = DispatchQueue(label: "postern.signals")
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for (number, name) in [(SIGTERM, "TERM"), (SIGINT, "INT")] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    if once.claim() { continuation.resume(returning: name) }
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Signal sources must outlive the wait; they live for the process.
private enum SignalSources {
    nonisolated(unsafe) static var retained: [DispatchSourceSignal] = []
    static func keep(_ sources: [DispatchSourceSignal]) { retained += sources }
}

private final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false
    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}
