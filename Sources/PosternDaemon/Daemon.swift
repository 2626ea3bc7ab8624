import Dispatch
import Foundation
import Logging
import MailQueue
import NIOCore
import NIOPosix
import NIOSSL
import SMTPServer

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
        let connections = ConnectionLimiter(maxTotal: config.limits.maxConnections,
                                            maxPerAddress: config.limits.maxConnectionsPerIP)
        let sessions = SessionRegistry()
        let context = ServerContext(hostname: config.hostname, limits: config.limits, tls: tls, queue: queue,
                                    logger: logger, connections: connections, sessions: sessions)
        var channels: [Channel] = []
        do {
            for listener in config.listeners {
                let channel = try await SMTPListener(host: listener.host, port: listener.port, context: context, group: group).bind()
                logger.info("listening", metadata: ["address": "\(listener.host):\(listener.port)", "tls": "\(tls != nil)"])
                channels.append(channel)
            }
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
        try await group.shutdownGracefully()
        queue.close()
        let stats = queue.stats
        logger.info("queue commit stats", metadata: [
            "messages": "\(stats.messages)", "sync_calls": "\(stats.syncCalls)", "batches": "\(stats.batches)",
            "failures": "\(stats.failures)",
        ])
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
