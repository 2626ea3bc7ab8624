import Logging
import NIOCore
import NIOPosix
import SMTPCore
#if canImport(Glibc)
import Glibc
#endif

/// One listening socket: accepts connections, applies the connection
/// limits, and gives each client its own `SMTPServerHandler`.
public final class SMTPListener: Sendable {
    public let context: ServerContext
    public let host: String
    public let port: Int
    private let group: EventLoopGroup

    public init(host: String, port: Int, context: ServerContext, group: EventLoopGroup) {
        self.host = host
        self.port = port
        self.context = context
        self.group = group
    }

    /// The backlog of every listening socket.
    static let backlog: CInt = 1024

    /// Binds and returns the server channel; close it to stop accepting.
    public func bind() async throws -> Channel {
        try await bind(socket: ListenSocket.bind(host: host, port: port))
    }

    /// Starts accepting on a socket bound earlier (before the daemon gave up
    /// root, see `ListenSocket`) and returns the server channel.
    public func bind(socket: ListenSocket) async throws -> Channel {
        let context = self.context
        let bootstrap = ServerBootstrap(group: group)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // A session stops reading while its replies wait above the high
            // water mark; with few reads per wake-up what it holds then stays small.
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { channel in
                let address = channel.remoteAddress?.ipAddress ?? "unknown"
                if let refusal = context.connections.acquire(address) {
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RefuseConnectionHandler(refusal: refusal, hostname: context.hostname))
                    }
                }
                channel.closeFuture.whenComplete { _ in context.connections.release(address) }
                context.sessions.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SMTPServerHandler(server: context, clientAddress: address))
                }
            }
        // From here NIO owns the descriptor and closes it with the channel.
        let channel = try await bootstrap.withBoundSocket(socket.descriptor).get()
        // NIO listens on a socket it is given with its default backlog (128),
        // before the backlog option applies; listen(2) again only raises it.
        listen(socket.descriptor, Self.backlog)
        return channel
    }
}

/// Greets a client over the connection limits with 421 and hangs up
/// (RFC 5321 §3.8).
final class RefuseConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let refusal: ConnectionLimiter.Refusal
    let hostname: String

    init(refusal: ConnectionLimiter.Refusal, hostname: String) {
        self.refusal = refusal
        self.hostname = hostname
    }

    func channelActive(context: ChannelHandlerContext) {
        let text = refusal == .tooManyConnections ? "Too many connections" : "Too many connections from your address"
        var buffer = context.channel.allocator.buffer(capacity: 80)
        SMTPReply(code: 421, enhanced: EnhancedStatusCode(4, 7, 0), text: "\(hostname) \(text), try again later")
            .write(into: &buffer)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
