import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SMTPServer
import Synchronization

/// One IMAP listening socket (143 with STARTTLS, or 993 with implicit TLS).
public final class IMAPListener: Sendable {
    public let host: String
    public let port: Int
    private let group: EventLoopGroup
    private let current: Mutex<IMAPServerContext>
    /// Open sessions, told to say BYE when the daemon stops.
    private let sessions = Mutex<[ObjectIdentifier: any Channel]>([:])

    public init(host: String, port: Int, context: IMAPServerContext, group: EventLoopGroup) {
        self.host = host
        self.port = port
        self.current = Mutex(context)
        self.group = group
    }

    public var context: IMAPServerContext { current.withLock { $0 } }

    /// New sessions use `context` from now on (a reload's new certificate).
    public func replaceContext(_ context: IMAPServerContext) {
        current.withLock { $0 = context }
    }

    /// Starts accepting on a socket bound earlier (before privileges were dropped).
    public func bind(socket: ListenSocket) async throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 64 * 1024, high: 256 * 1024))
            .childChannelInitializer { [self] channel in
                let context = self.context
                let address = channel.remoteAddress?.ipAddress ?? "unknown"
                let id = ObjectIdentifier(channel)
                self.sessions.withLock { $0[id] = channel }
                channel.closeFuture.whenComplete { _ in _ = self.sessions.withLock { $0.removeValue(forKey: id) } }
                return channel.eventLoop.makeCompletedFuture {
                    if context.implicitTLS, let tls = context.tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    if let connections = context.connections {
                        switch connections.acquire(address, exemptFromPerAddressLimit: context.exemptFromPerAddressLimit(address)) {
                        case .failure:
                            IMAPServerMetrics.refused.increment()
                            context.logger.notice("imap connection refused", metadata: [
                                "client": "\(address)", "reason": "too many connections"])
                            // RFC 3501 §7.1.5: BYE as the greeting refuses the connection.
                            return try channel.pipeline.syncOperations.addHandler(
                                RefuseConnectionHandler(greeting: "* BYE Too many connections, try again later\r\n"))
                        case .success(let slot):
                            channel.closeFuture.whenComplete { _ in slot.release() }
                        }
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        IMAPServerHandler(server: context, clientAddress: address, isTLS: context.implicitTLS))
                }
            }
        return try await bootstrap.withBoundSocket(socket.descriptor).get()
    }

    /// Every open session says "* BYE" and closes (RFC 3501 §7.1.5): a
    /// client idling for half an hour must not hold up a shutdown.
    public func closeSessions() {
        for channel in sessions.withLock({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(IMAPServerHandler.ShuttingDown())
        }
    }
}
