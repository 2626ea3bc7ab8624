import Logging
import NIOCore
import NIOPosix
import NIOSSL
import POP3Core
import SMTPServer
#if canImport(Glibc)
import Glibc
#endif

/// One POP3 listening socket: plain with STLS (port 110 style) or implicit
/// TLS (port 995 style, RFC 8314 §3.3), each client with its own
/// `POP3ServerHandler`.
public final class POP3Listener: Sendable {
    /// Where to listen and whether TLS comes first.
    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var implicitTLS: Bool

        public init(host: String, port: Int, implicitTLS: Bool) {
            self.host = host
            self.port = port
            self.implicitTLS = implicitTLS
        }

        var label: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public enum StartError: Error, Equatable, CustomStringConvertible {
        /// An implicit-TLS listener without a certificate (`[tls]`).
        case noCertificate(String)

        public var description: String {
            switch self {
            case .noCertificate(let address): "POP3 TLS listener \(address) needs a certificate ([tls])"
            }
        }
    }

    public let endpoint: Endpoint
    private let context: POP3ServerContext
    private let group: EventLoopGroup

    public init(endpoint: Endpoint, context: POP3ServerContext, group: EventLoopGroup) throws(StartError) {
        if endpoint.implicitTLS && context.tls == nil { throw .noCertificate(endpoint.label) }
        self.endpoint = endpoint
        self.context = context
        self.group = group
    }

    /// Starts accepting on sockets the daemon bound (while still root):
    /// `plain` with STLS, `implicitTLS` with TLS first. Returns the server
    /// channels (close them to stop accepting); on a failure those started
    /// are closed and the sockets not yet handed over too.
    public static func start(plain: [ListenSocket], implicitTLS: [ListenSocket], context: POP3ServerContext,
                             group: EventLoopGroup) async throws -> [Channel] {
        let sockets = plain.map { ($0, false) } + implicitTLS.map { ($0, true) }
        var channels: [Channel] = []
        for (index, (socket, tls)) in sockets.enumerated() {
            let endpoint = Endpoint(host: socket.host, port: socket.port, implicitTLS: tls)
            // Once `bind` has the socket NIO owns it, failing or not.
            var handedOver = index
            do {
                let listener = try POP3Listener(endpoint: endpoint, context: context, group: group)
                handedOver += 1
                channels.append(try await listener.bind(socket: socket))
            } catch {
                for channel in channels { try? await channel.close() }
                for (unused, _) in sockets[handedOver...] { unused.close() }
                throw error
            }
            context.logger.info("pop3 listening", metadata: [
                "address": "\(endpoint.label)", "implicit_tls": "\(tls)", "stls": "\(!tls && context.tls != nil)",
            ])
        }
        return channels
    }

    /// Starts accepting on a socket bound earlier (before the daemon gave
    /// up root, see `ListenSocket`).
    public func bind(socket: ListenSocket) async throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // RETR output waits above the high water mark, so a client that
            // does not read holds at most this much of a message here.
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { [context, endpoint] channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.initialize(channel, context: context, implicitTLS: endpoint.implicitTLS)
                }
            }
        let channel = try await bootstrap.withBoundSocket(socket.descriptor).get()
        // As SMTPListener: NIO listens with its default backlog first.
        listen(socket.descriptor, 1024)
        return channel
    }

    private static func initialize(_ channel: Channel, context: POP3ServerContext, implicitTLS: Bool) throws {
        let pipeline = channel.pipeline.syncOperations
        if implicitTLS, let tls = context.tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        var slot: ConnectionSlot?
        if let connections = context.connections {
            switch connections.acquire(address, exemptFromPerAddressLimit: context.exemptFromPerAddressLimit(address)) {
            case .failure:
                POP3ServerMetrics.refused.increment()
                context.logger.notice("pop3 connection refused", metadata: ["client": "\(address)", "reason": "too many connections"])
                var refusal = channel.allocator.buffer(capacity: 64)
                POP3Reply.err("Too many connections, try again later", code: .systemTemporary).write(into: &refusal)
                return try pipeline.addHandler(RefuseConnectionHandler(greeting: refusal))
            case .success(let acquired):
                slot = acquired
                channel.closeFuture.whenComplete { _ in acquired.release() }
            }
        }
        context.sessions?.add(channel)
        try pipeline.addHandler(POP3ServerHandler(server: context, clientAddress: address, implicitTLS: implicitTLS, slot: slot))
    }
}
