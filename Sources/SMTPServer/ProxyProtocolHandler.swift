import DNSModel
import Logging
import NIOCore
import Policy
import ProxyProtocol

/// A listener behind load balancers that announce each client with a PROXY
/// protocol header (v1 or v2); see `ProxyProtocolHandler`.
public struct ProxyProtocolSettings: Sendable, Equatable {
    /// The load balancers allowed to send a header. A connection from any
    /// other address is closed unanswered: a header is a claim about who the
    /// client is, believed only from these.
    public var trustedProxies: [IPNetwork]
    public var headerTimeout: TimeAmount

    public init(trustedProxies: [IPNetwork],
                headerTimeout: TimeAmount = .seconds(ProxyProtocolLimits.headerTimeoutSeconds)) {
        self.trustedProxies = trustedProxies
        self.headerTimeout = headerTimeout
    }
}

/// First in the pipeline of a PROXY protocol listener: reads the header
/// before anything else happens (the SMTP greeting waits for it, as the
/// server speaks first), then hands the channel to `startSession` with the
/// client address the header names, passes on the `channelActive` it held
/// back and whatever octets followed the header, and removes itself.
///
/// A peer outside `trustedProxies`, a header that is not valid, or none
/// within the timeout: the connection is closed without a greeting, and a
/// notice names the peer (proxy-protocol.txt §2.1: "abort the connection").
final class ProxyProtocolHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Adds the session's handlers behind this one; called once, on the
    /// event loop, with the client's address and the header it came from.
    typealias StartSession = (_ channel: Channel, _ clientAddress: String, _ header: ProxyHeader) throws -> Void

    private enum State {
        case idle
        case waiting(peer: String, timeout: Scheduled<Void>)
        case done
    }

    private let settings: ProxyProtocolSettings
    private let logger: Logger
    private let metrics: ListenerMetrics?
    private let startSession: StartSession
    private var state = State.idle
    private var input = ByteBuffer()

    init(settings: ProxyProtocolSettings, logger: Logger, metrics: ListenerMetrics? = nil,
         startSession: @escaping StartSession) {
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.startSession = startSession
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { begin(context: context) }
    }

    /// Held back: the session sees it once it knows its client.
    func channelActive(context: ChannelHandlerContext) {
        begin(context: context)
    }

    private func begin(context: ChannelHandlerContext) {
        guard case .idle = state else { return }
        let peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
        guard settings.trustedProxies.contains(IPAddress(peer)) else {
            refuse(peer: peer, reason: "not a configured load balancer (proxy_from)", context: context)
            return
        }
        let timeout = context.eventLoop.scheduleTask(in: settings.headerTimeout) { [self] in
            refuse(peer: peer, reason: "no PROXY header in time", context: context)
        }
        state = .waiting(peer: peer, timeout: timeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .waiting(let peer, _) = state else { return }
        var bytes = unwrapInboundIn(data)
        input.writeBuffer(&bytes)
        let header: ProxyHeader
        do {
            guard let decoded = try ProxyHeaderDecoder.decode(&input) else { return }
            header = decoded
        } catch {
            refuse(peer: peer, reason: "\(error)", context: context)
            return
        }
        accept(header, peer: peer, context: context)
    }

    private func accept(_ header: ProxyHeader, peer: String, context: ChannelHandlerContext) {
        if case .waiting(_, let timeout) = state { timeout.cancel() }
        state = .done
        // IPv4 clients of a dual-stack proxy are named by their IPv4 address.
        let client = header.endpoints?.source.unmapped.description ?? peer
        do {
            try startSession(context.channel, client, header)
        } catch {
            logger.error("session start failed", metadata: ["peer": "\(peer)", "client": "\(client)", "error": "\(error)"])
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
        if input.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(input))
            input = ByteBuffer()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func refuse(peer: String, reason: String, context: ChannelHandlerContext) {
        if case .done = state { return }
        if case .waiting(_, let timeout) = state { timeout.cancel() }
        state = .done
        metrics?.proxyHeaderRefused.increment()
        logger.notice("connection refused: no valid PROXY header", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        context.close(promise: nil)
    }

    /// The daemon is stopping: a connection still waiting for its header
    /// has been told nothing and is just closed.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ShutdownNotice, case .waiting(_, let timeout) = state {
            timeout.cancel()
            state = .done
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .waiting(_, let timeout) = state { timeout.cancel() }
        state = .done
        context.fireChannelInactive()
    }

    /// A reset before the header (a balancer's plain TCP health check) is
    /// no refusal: closed without a notice.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard case .waiting(_, let timeout) = state else {
            context.fireErrorCaught(error)
            return
        }
        timeout.cancel()
        state = .done
        context.close(promise: nil)
    }
}
