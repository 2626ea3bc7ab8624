import DNS
import Delivery
import Logging
import MailQueue
import NIOCore
import SMTPServer
import ServiceLifecycle
import UnixSignals

/// The SMTP listeners and their sessions. At shutdown: stop accepting, tell
/// idle sessions 421, let transactions in flight finish within the grace
/// period, then close what is left (RFC 5321 §3.8).
struct ListenerService: Service {
    let channels: [Channel]
    let sessions: SessionRegistry
    let grace: Duration
    let logger: Logger
    /// Told first (readiness goes to 503).
    var onShutdown: @Sendable () -> Void = {}

    func run() async throws {
        try? await gracefulShutdown()
        onShutdown()
        logger.info("shutting down", metadata: ["sessions": "\(sessions.count)"])
        for channel in channels { try? await channel.close() }
        sessions.announceShutdown()
        if await sessions.waitUntilEmpty(timeout: grace) { return }
        logger.info("grace period over, closing sessions", metadata: ["sessions": "\(sessions.count)"])
        sessions.closeAll()
        _ = await sessions.waitUntilEmpty(timeout: .seconds(2))
    }
}

/// The delivery workers; at shutdown, attempts in flight finish or stay deferred.
struct DeliveryService: Service {
    let agent: DeliveryAgent

    func run() async throws {
        await withGracefulShutdownHandler {
            await agent.run()
        } onGracefulShutdown: {
            agent.stop()
        }
    }
}

/// A channel that only needs closing at shutdown (the metrics endpoint).
struct ChannelService: Service {
    let channel: Channel

    func run() async throws {
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// The control socket; removed at shutdown so no client waits on a dead daemon.
struct ControlService: Service {
    let server: ControlServer
    let channel: Channel

    func run() async throws {
        try? await gracefulShutdown()
        try? await channel.close()
        server.removeSocket()
    }
}

/// SIGHUP reloads the configuration, as `postern reload` does.
struct ReloadService: Service {
    let reloader: Reloader

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            _ = await reloader.reload()
        }
    }
}

/// The queue's committer thread: stopped last, once nothing can commit any
/// more, after the batches already handed to it are on disk.
struct QueueService: Service {
    let queue: MailQueue

    func run() async throws {
        try? await gracefulShutdown()
        queue.close()
    }
}

/// The libldns worker threads, joined at shutdown (a thread still starting
/// while the process exits can crash it).
struct ResolverService: Service {
    let resolver: LDNSResolver

    func run() async throws {
        try? await gracefulShutdown()
        resolver.shutdown()
    }
}

/// The quarantine mover: a move or release under way finishes, no other
/// starts (a message not yet moved stays queued and is moved at the next start).
struct QuarantineService: Service {
    let mover: QuarantineMover

    func run() async throws {
        try? await gracefulShutdown()
        mover.stop()
    }
}
