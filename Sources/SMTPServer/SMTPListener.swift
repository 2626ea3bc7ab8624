import DNSModel
import Logging
import Synchronization
import NIOCore
import NIOPosix
import SMTPCore
#if canImport(Glibc)
import Glibc
#endif

/// One listening socket: accepts connections, applies the connection
/// limits, and gives each client its own `SMTPServerHandler`.
public final class SMTPListener: Sendable {
    public let host: String
    public let port: Int
    private let group: EventLoopGroup
    /// What new sessions get; a reload replaces it, sessions in flight keep theirs.
    private let current: Mutex<ServerContext>

    public init(host: String, port: Int, context: ServerContext, group: EventLoopGroup) {
        self.host = host
        self.port = port
        current = Mutex(context)
        self.group = group
    }

    public var context: ServerContext { current.withLock { $0 } }

    /// New sessions use `context` from now on (configuration reload).
    public func replaceContext(_ context: ServerContext) {
        current.withLock { $0 = context }
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
        let metrics = ListenerMetrics(listener: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        let bootstrap = ServerBootstrap(group: group)
            .childChannelInitializer { [self] channel in
                let context = self.context
                guard let proxy = context.proxyProtocol else {
                    let address = channel.remoteAddress?.ipAddress ?? "unknown"
                    return Self.setOptions(channel).flatMapThrowing {
                        try Self.startSession(on: channel, clientAddress: address, context: context, metrics: metrics)
                    }
                }
                // Registered now, so a shutdown reaches a connection still
                // waiting for its header; limits apply once the client is known.
                context.sessions.add(channel)
                return Self.setOptions(channel).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(Self.proxyHandler(proxy, context: context, metrics: metrics))
                }
            }
        // From here NIO owns the descriptor and closes it with the channel.
        let channel = try await bootstrap.withBoundSocket(socket.descriptor).get()
        // NIO listens on a socket it is given with its default backlog (128),
        // before the backlog option applies; listen(2) again only raises it.
        listen(socket.descriptor, Self.backlog)
        return channel
    }

    /// A new connection's options, set directly: the bootstrap's
    /// childChannelOption goes through a future per option for every
    /// connection (issue #15).
    static func setOptions(_ channel: Channel) -> EventLoopFuture<Void> {
        // A session stops reading while its replies wait above the high
        // water mark; with few reads per wake-up what it holds then stays small.
        let waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 * 1024, high: 64 * 1024)
        guard let options = channel.syncOptions else {
            // A channel without synchronous options: the asynchronous way.
            return channel.setOption(.tcpOption(.tcp_nodelay), value: 1)
                .flatMap { channel.setOption(.writeBufferWaterMark, value: waterMark) }
                .flatMap { channel.setOption(.maxMessagesPerRead, value: 4) }
        }
        return channel.eventLoop.makeCompletedFuture {
            try options.setOption(.tcpOption(.tcp_nodelay), value: 1)
            try options.setOption(.writeBufferWaterMark, value: waterMark)
            try options.setOption(.maxMessagesPerRead, value: 4)
        }
    }

    /// Reads the PROXY header, then starts the session for the client it names
    /// (the load balancer's address goes in the session's log lines as "proxy").
    static func proxyHandler(_ settings: ProxyProtocolSettings, context: ServerContext,
                             metrics: ListenerMetrics) -> ProxyProtocolHandler {
        ProxyProtocolHandler(settings: settings, logger: context.logger, metrics: metrics) { channel, client, _ in
            var session = context
            session.logger[metadataKey: "proxy"] = "\(channel.remoteAddress?.ipAddress ?? "unknown")"
            try startSession(on: channel, clientAddress: client, context: session, metrics: metrics, register: false)
        }
    }

    /// Applies the connection limits to `clientAddress` and adds the session
    /// handler, or the one that refuses with 421. On the channel's event loop.
    private static func startSession(on channel: Channel, clientAddress address: String, context: ServerContext,
                                     metrics: ListenerMetrics, register: Bool = true) throws {
        // As Postfix exempts mynetworks: the intranet's own relays may
        // open as many sessions as the total limit allows.
        let trusted = IPAddress(address).map { context.policy.config.relay.trustedNetworks.contains($0) } ?? false
        let slot: ConnectionSlot
        switch context.connections.acquire(address, exemptFromPerAddressLimit: trusted) {
        case .failure(let refusal):
            metrics.refused(refusal)
            // RFC 5321 §3.8: 421 as the greeting.
            let text = refusal == .tooManyConnections ? "Too many connections" : "Too many connections from your address"
            var reply = channel.allocator.buffer(capacity: 80)
            SMTPReply(code: 421, enhanced: EnhancedStatusCode(4, 7, 0), text: "\(context.hostname) \(text), try again later")
                .write(into: &reply)
            try channel.pipeline.syncOperations.addHandler(RefuseConnectionHandler(greeting: reply))
            return
        case .success(let acquired):
            slot = acquired
        }
        metrics.accepted.increment()
        metrics.open.increment()
        channel.closeFuture.whenComplete { _ in
            slot.release()
            metrics.open.decrement()
        }
        if register { context.sessions.add(channel) }
        try channel.pipeline.syncOperations.addHandler(SMTPServerHandler(server: context, clientAddress: address, slot: slot))
    }
}

/// Greets a client over the connection limits with a refusal (SMTP's 421,
/// IMAP's BYE, POP3's -ERR) and hangs up. Behind implicit TLS the greeting
/// waits for a handshake that may never come, so it closes after 10 s in
/// any case: a refused client must not hold its socket for ever.
public final class RefuseConnectionHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer
    let greeting: ByteBuffer

    /// `greeting`: the whole refusal, CRLF included.
    public init(greeting: ByteBuffer) {
        self.greeting = greeting
    }

    public convenience init(greeting: String) {
        self.init(greeting: ByteBuffer(string: greeting))
    }

    public func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(greeting)).whenComplete { _ in
            channel.close(promise: nil)
        }
        context.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
