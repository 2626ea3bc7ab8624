import DNS
import Delivery
import Logging
import Synchronization
import NIOCore
import NIOSSL
import SMTPServer
import Scanning

/// SIGHUP and `postern reload`: read the configuration, its policy files and
/// the TLS certificate again and, only if all of it is sound, give the new
/// set to every listener at once. New sessions get it; sessions in flight
/// keep the set they started with; a mistake keeps the old set and is
/// reported with file, line and key. Password files are read again whenever
/// they change, reload or not.
///
/// A listener's PROXY protocol settings (on or off, the load balancers)
/// apply to connections accepted after the reload, as its policy does.
///
/// Delivery routes and the relayhost apply from the next attempt on (with
/// `postern queue requeue` to send waiting mail the new way at once). What
/// else lives outside the sessions (listener addresses, the queue, the rest
/// of `[delivery]`, connection limits) needs a restart; a reload that
/// changes it says so instead of half-applying it.
final class Reloader: Sendable {
    struct Outcome: Sendable {
        var error: String?
        /// What the reload could not apply.
        var notes: [String]

        var reply: ControlReply {
            guard let error else { return ControlReply(notes: notes) }
            return .failure(error)
        }
    }

    let source: ConfigSource
    let listeners: [SMTPListener]
    let agent: DeliveryAgent?
    let resolver: CachingResolver?
    let group: EventLoopGroup
    let logger: Logger
    /// The configuration in force (for what a reload cannot change).
    private let running: Mutex<PosternConfig>
    /// One reload at a time (SIGHUP and the control socket may race): each
    /// waits for the one before it.
    private let last = Mutex<Task<Outcome, Never>?>(nil)

    init(source: ConfigSource, running: PosternConfig, listeners: [SMTPListener], agent: DeliveryAgent?,
         resolver: CachingResolver?, group: EventLoopGroup, logger: Logger) {
        self.source = source
        self.running = Mutex(running)
        self.listeners = listeners
        self.agent = agent
        self.resolver = resolver
        self.group = group
        self.logger = logger
    }

    func reload() async -> Outcome {
        let task: Task<Outcome, Never> = last.withLock { last in
            let previous = last
            let next = Task { [self] in
                _ = await previous?.value
                return await reloadOnce()
            }
            last = next
            return next
        }
        return await task.value
    }

    private func reloadOnce() async -> Outcome {
        let new: PosternConfig
        let tls: NIOSSLContext?
        let policies: [ListenerPolicy]
        let old = running.withLock { $0 }
        // Listeners are matched by address: a socket gets the policy of the
        // listener that names its address now (one gone from the file keeps
        // its policy until a restart closes it).
        let bound = listeners.map { "\($0.host):\($0.port)" }
        do {
            new = try source.load()
            tls = try Daemon.makeTLS(new)
            let previous = new.listeners.map { listener in
                bound.firstIndex(of: "\(listener.host):\(listener.port)").map { listeners[$0].context.policy }
            }
            policies = try Daemon.makePolicies(new, resolver: resolver, group: group, previous: previous)
            // Every ClamAV engine, those in use and those the new policies
            // just named, is compiled once, beside the one it replaces (a
            // failure keeps the old engine); then a new database that did
            // not load fails the reload, as it would fail a start.
            for reload in await ClamAVEngine.reloadAll() {
                switch reload.result {
                case .success(let info):
                    logger.info("ClamAV signatures reloaded", metadata: ["database": "\(reload.database)",
                                                                         "signatures": "\(info.signatures)"])
                case .failure(let error):
                    logger.error("ClamAV reload failed, the old signatures stay", metadata: ["database": "\(reload.database)",
                                                                                               "error": "\(error)"])
                }
            }
            try await Daemon.prepareScanners(policies)
        } catch {
            logger.error("reload failed, the old configuration stays in force", metadata: ["error": "\(error)"])
            return Outcome(error: "\(error)", notes: [])
        }
        let notes = Self.needsRestart(old: old, new: new, resolverAvailable: resolver != nil)
        for listener in listeners {
            guard let index = new.listeners.firstIndex(where: { $0.host == listener.host && $0.port == listener.port }) else { continue }
            var context = listener.context
            context.tls = tls
            context.limits = new.limits
            context.policy = policies[index]
            context.proxyProtocol = new.listeners[index].proxyProtocol
            listener.replaceContext(context)
        }
        if let agent {
            let (routes, relayhost) = Daemon.destinations(new.delivery)
            agent.updateRoutes(routes, relayhost: relayhost)
        }
        running.withLock { $0 = new }
        logger.notice("configuration reloaded", metadata: [
            "file": "\(source.file ?? "none")", "listeners": "\(listeners.count)", "tls": "\(tls != nil)",
            "needs_restart": "\(notes.isEmpty ? "nothing" : notes.joined(separator: "; "))",
        ])
        return Outcome(error: nil, notes: notes)
    }

    /// Settings a reload leaves as they were, changed in the file.
    static func needsRestart(old: PosternConfig, new: PosternConfig, resolverAvailable: Bool) -> [String] {
        var notes: [String] = []
        func address(_ listener: PosternConfig.Listener) -> String { "\(listener.host):\(listener.port)" }
        if old.listeners.map(address) != new.listeners.map(address) { notes.append("listener addresses changed: restart to apply") }
        if old.queueDirectory != new.queueDirectory || old.syncMode != new.syncMode
            || old.commitDelayMilliseconds != new.commitDelayMilliseconds
            || old.journalSizeMiB != new.journalSizeMiB { notes.append("[queue] changed: restart to apply") }
        var oldDelivery = old.delivery, newDelivery = new.delivery
        (oldDelivery.routes, oldDelivery.relayhost) = (newDelivery.routes, newDelivery.relayhost) // these apply now
        if oldDelivery != newDelivery || old.dnsServers != new.dnsServers || old.dnsTimeoutSeconds != new.dnsTimeoutSeconds {
            notes.append("[delivery] (but routes and relayhost) or [dns] changed: restart to apply")
        }
        if old.limits.maxConnections != new.limits.maxConnections || old.limits.maxConnectionsPerIP != new.limits.maxConnectionsPerIP
            || old.limits.stressThresholdPercent != new.limits.stressThresholdPercent {
            notes.append("connection limits changed: restart to apply")
        }
        if old.control != new.control { notes.append("[control] changed: restart to apply") }
        if old.imap != new.imap || old.pop3 != new.pop3 { notes.append("[imap] or [pop3] changed: restart to apply") }
        if old.quarantineDirectory != new.quarantineDirectory { notes.append("[quarantine] changed: restart to apply") }
        if old.hostname != new.hostname { notes.append("hostname changed: restart to apply") }
        if !resolverAvailable && new.listeners.contains(where: { $0.policy?.spf.enabled == true }) {
            notes.append("SPF was turned on but no resolver runs: restart to apply")
        }
        return notes
    }
}
