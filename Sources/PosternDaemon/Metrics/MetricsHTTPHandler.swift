import NIOCore
import NIOHTTP1

/// What the metrics endpoint serves: the scrape (may take a moment: the
/// queue census reads files, so it runs off the event loop) and readiness.
public struct MetricsEndpoint: Sendable {
    public var scrape: @Sendable (EventLoop) -> EventLoopFuture<[UInt8]>
    /// Nil when ready, else the reason.
    public var readinessProblem: @Sendable () -> String?

    public init(scrape: @escaping @Sendable (EventLoop) -> EventLoopFuture<[UInt8]>,
                readinessProblem: @escaping @Sendable () -> String?) {
        self.scrape = scrape
        self.readinessProblem = readinessProblem
    }
}

/// A deliberately small HTTP/1.1 server for Prometheus and health checks:
/// GET or HEAD of `/metrics`, `/healthz` and `/readyz`; anything else is
/// 404 (unknown path), 405 (other method) or 413 (a request body). The
/// request head is bounded by NIOHTTP1's parser (80 KiB); bodies are not
/// wanted, and one over `maxBodyBytes` ends the connection.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxBodyBytes = 1024
    /// The text format's content type (Prometheus exposition format 0.0.4).
    static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    let endpoint: MetricsEndpoint
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    /// A response was sent early (413) and the connection is closing.
    private var finished = false

    init(endpoint: MetricsEndpoint) {
        self.endpoint = endpoint
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            bodyBytes = 0
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            if bodyBytes > Self.maxBodyBytes {
                finished = true
                respond(.payloadTooLarge, body: "request body too large\n", context: context, close: true)
            }
        case .end:
            guard let requestHead = head else { return }
            head = nil
            route(requestHead, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // IdleStateHandler: a client that holds the connection idle loses it.
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A malformed request was answered 400 by NIOHTTP1's error handler;
    /// nothing more is read from such a client.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func route(_ request: HTTPRequestHead, context: ChannelHandlerContext) {
        let close = !request.isKeepAlive
        guard request.method == .GET || request.method == .HEAD else {
            return respond(.methodNotAllowed, body: "only GET and HEAD\n", extraHeaders: [("Allow", "GET, HEAD")],
                           context: context, headOnly: false, close: close)
        }
        let headOnly = request.method == .HEAD
        if bodyBytes > 0 {
            return respond(.payloadTooLarge, body: "no request body expected\n", context: context, close: true)
        }
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        switch path {
        case "/metrics":
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            endpoint.scrape(context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = loopBound.value
                switch result {
                case .success(let text):
                    var buffer = context.channel.allocator.buffer(capacity: text.count)
                    buffer.writeBytes(text)
                    handler.respond(.ok, body: buffer, contentType: Self.metricsContentType, context: context,
                                    headOnly: headOnly, close: close)
                case .failure(let error):
                    handler.respond(.internalServerError, body: "scrape failed: \(error)\n", context: context,
                                    headOnly: headOnly, close: close)
                }
            }
        case "/healthz":
            respond(.ok, body: "ok\n", context: context, headOnly: headOnly, close: close)
        case "/readyz":
            if let problem = endpoint.readinessProblem() {
                respond(.serviceUnavailable, body: "not ready: \(problem)\n", context: context, headOnly: headOnly, close: close)
            } else {
                respond(.ok, body: "ready\n", context: context, headOnly: headOnly, close: close)
            }
        default:
            respond(.notFound, body: "not found; try /metrics, /healthz or /readyz\n", context: context,
                    headOnly: headOnly, close: close)
        }
    }

    private func respond(_ status: HTTPResponseStatus, body: String, extraHeaders: [(String, String)] = [],
                         context: ChannelHandlerContext, headOnly: Bool = false, close: Bool) {
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        respond(status, body: buffer, extraHeaders: extraHeaders, context: context, headOnly: headOnly, close: close)
    }

    private func respond(_ status: HTTPResponseStatus, body: ByteBuffer, contentType: String = "text/plain; charset=utf-8",
                         extraHeaders: [(String, String)] = [], context: ChannelHandlerContext, headOnly: Bool,
                         close: Bool) {
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", "\(body.readableBytes)")])
        headers.add(contentsOf: extraHeaders)
        if close { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                      promise: nil)
        if !headOnly { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if close { channel.close(promise: nil) }
        }
    }
}
