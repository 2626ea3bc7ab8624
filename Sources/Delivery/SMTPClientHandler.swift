import Logging
import NIOCore
import NIOSSL
import SMTPCore

/// What `SMTPConnection` asks of the handler; written into the channel.
enum ClientRequest: Sendable {
    case send(OutboundMessage, EventLoopPromise<MessageOutcome>)
    case quit(EventLoopPromise<Void>)
}

/// Setting the session up failed: the reason, for every recipient waiting.
public struct SMTPConnectionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: DeliveryReason

    public init(reason: DeliveryReason) {
        self.reason = reason
    }

    public var description: String { reason.description }
}

/// Runs one client session on a channel: reads replies, feeds the pure
/// `ClientSessionStateMachine`, and carries out its actions (commands,
/// STARTTLS, the body, timeouts). Requests arrive as `ClientRequest` writes
/// and are served one message at a time.
final class SMTPClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ClientRequest
    typealias OutboundOut = ByteBuffer

    private var machine: ClientSessionStateMachine
    private var parser = ReplyParser()
    private var input = ByteBuffer()
    private let tlsContext: NIOSSLContext?
    private let tlsServerName: String?
    let bodyReader: BodyReader
    var logger: Logger
    private var readyPromise: EventLoopPromise<SessionInfo>?
    private var cipherObserver: TLSCipherObserver?
    private var waiting: [ClientRequest] = []
    private var current: (message: OutboundMessage, promise: EventLoopPromise<MessageOutcome>)?
    private var quitPromise: EventLoopPromise<Void>?
    private var deadline = MovingDeadline<SMTPStage>()
    private var closing = false
    private var stuffer = DotStuffer()
    /// Why the certificate did not match the TLSA records, for the deferral text.
    var daneFailure: String?

    init(options: ClientOptions, tlsContext: NIOSSLContext?, tlsServerName: String?, bodyReader: BodyReader,
         readyPromise: EventLoopPromise<SessionInfo>?, logger: Logger) {
        machine = ClientSessionStateMachine(options: options)
        self.tlsContext = tlsContext
        self.tlsServerName = tlsServerName
        self.bodyReader = bodyReader
        self.readyPromise = readyPromise
        self.logger = logger
    }

    var options: ClientOptions { machine.options }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let stage = machine.awaiting ?? .connect
        perform(machine.connectionClosed(), context: context)
        deadline.cancel()
        settleEverything(.local(EnhancedStatusCode(4, 4, 2), "lost connection", stage: stage))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        settleEverything(.local(EnhancedStatusCode(4, 4, 2), "connection closed", stage: .connect))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if machine.awaiting == .tlsHandshake {
            perform(machine.tlsFailed(daneFailure.map { "DANE: \($0)" } ?? "\(error)"), context: context)
        } else {
            logger.info("connection error", metadata: ["error": "\(error)"])
            perform(machine.connectionClosed("connection error: \(error)"), context: context)
        }
        context.close(promise: nil)
    }

    // MARK: replies

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !closing else { return }
        input.writeBuffer(&bytes)
        do {
            while !closing, let reply = try parser.next(&input) {
                logger.debug("< \(reply)")
                perform(machine.receive(reply), context: context)
            }
        } catch {
            // The stream cannot be trusted any more: drop what is buffered and close.
            logger.notice("unreadable reply", metadata: ["error": "\(error)"])
            input.clear()
            perform(machine.protocolError(error), context: context)
        }
        if input.readableBytes == 0 || input.readerIndex > 16384 { input.discardReadBytes() }
    }

    /// Octets read but not yet parsed (tests: bounded whatever the server sends).
    var bufferedReplyBytes: Int { input.readableBytes }

    // MARK: requests

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        promise?.succeed(())
        if machine.isClosed || closing {
            settle(request, .local(EnhancedStatusCode(4, 4, 2), "connection is closed", stage: .connect))
            return
        }
        waiting.append(request)
        startNextRequest(context: context)
    }

    private func startNextRequest(context: ChannelHandlerContext) {
        guard current == nil, quitPromise == nil, machine.isReady, !waiting.isEmpty else { return }
        switch waiting.removeFirst() {
        case .send(let message, let promise):
            current = (message, promise)
            logger.debug("sending message", metadata: ["queue_id": "\(message.id)", "rcpts": "\(message.recipients.count)"])
            perform(machine.startMessage(message), context: context)
        case .quit(let promise):
            quitPromise = promise
            perform(machine.quit(), context: context)
        }
    }

    // MARK: actions

    func perform(_ action: ClientSessionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .send(let commands):
            send(commands, context: context)
        case .startTLS:
            startTLS(context: context)
        case .sendBody:
            sendBody(context: context)
        case .ready(var info):
            if info.tls {
                info.tlsVersion = (try? context.pipeline.syncOperations.nioSSL_tlsVersion())?.map(Self.name)
                info.tlsCipher = cipherObserver?.cipher
            }
            logger.debug("session ready", metadata: ["tls": "\(info.tlsVersion ?? "no")", "esmtp": "\(info.esmtp)"])
            readyPromise?.succeed(info)
            readyPromise = nil
            startNextRequest(context: context)
        case .finishMessage(let outcome, let closeAfter):
            if let current {
                self.current = nil
                current.promise.succeed(outcome)
            }
            if let closeAfter {
                close(closeAfter, context: context)
            } else {
                startNextRequest(context: context)
            }
        case .failSession(let reason, let mode):
            logger.info("session failed", metadata: ["reason": "\(reason)"])
            readyPromise?.fail(SMTPConnectionError(reason: reason))
            readyPromise = nil
            close(mode, context: context)
        case .closed:
            close(.abort, context: context)
        }
        armTimer(context: context)
    }

    private func send(_ commands: [ClientCommand], context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64 * commands.count)
        for command in commands {
            logger.debug("> \(command)")
            command.write(into: &buffer)
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func startTLS(context: ChannelHandlerContext) {
        // RFC 3207 §4.2 and CVE-2011-0411: bytes sent after the 220 in
        // plaintext must not be read as if they came over TLS.
        guard input.readableBytes == 0, !parser.hasPartialReply else {
            perform(machine.tlsFailed("the server sent more after its 220 to STARTTLS"), context: context)
            return
        }
        guard let tlsContext else {
            perform(machine.tlsFailed("no TLS configuration"), context: context)
            return
        }
        do {
            let handler: NIOSSLClientHandler
            if let dane = options.dane {
                handler = try NIOSSLClientHandler(context: tlsContext, serverHostname: tlsServerName,
                                                  customVerificationCallback: daneVerification(dane))
            } else {
                handler = try NIOSSLClientHandler(context: tlsContext, serverHostname: tlsServerName)
            }
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
            // Below the TLS handler: it sees the server's octets first.
            let observer = TLSCipherObserver()
            try context.pipeline.syncOperations.addHandler(observer, position: .first)
            cipherObserver = observer
        } catch {
            perform(machine.tlsFailed("\(error)"), context: context)
            return
        }
        // NIOSSL holds writes until the handshake is done, so EHLO can go now;
        // a failed handshake comes back through errorCaught.
        perform(machine.tlsStarted(), context: context)
    }

    private func close(_ mode: ClientSessionStateMachine.CloseMode, context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        deadline.cancel()
        if mode == .quit && context.channel.isActive {
            var buffer = context.channel.allocator.buffer(capacity: 8)
            logger.debug("> QUIT")
            ClientCommand.quit.write(into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }

    // MARK: timeouts

    /// (Re)starts the timer for the reply awaited now (RFC 5321 §4.5.3.2):
    /// each reply or written chunk is progress and restarts it.
    func armTimer(context: ChannelHandlerContext) {
        guard !closing, let stage = machine.awaiting else { return deadline.clear() }
        deadline.move(to: context.eventLoop.now + options.timeouts.timeout(for: stage), reason: stage) { scheduleTimer(at: $0, context: context) }
    }

    private func scheduleTimer(at time: NIODeadline, context: ChannelHandlerContext) -> Scheduled<Void> {
        context.eventLoop.assumeIsolated().scheduleTask(deadline: time) { [self] in
            guard let stage = deadline.fired(now: context.eventLoop.now, schedule: { scheduleTimer(at: $0, context: context) }) else { return }
            logger.notice("timeout", metadata: ["stage": "\(stage.rawValue)"])
            perform(machine.timedOut(), context: context)
        }
    }

    // MARK: body

    private func sendBody(context: ChannelHandlerContext) {
        guard let message = current?.message else {
            perform(machine.bodyFailed("no message in progress"), context: context)
            return
        }
        stuffer = DotStuffer()
        if case .bytes(let whole) = message.body, whole.readableBytes <= options.bodyChunkSize, !closing {
            // A body in memory that fits one chunk (the usual case): the
            // added fields, the content and the end go out in one flush, one
            // write for the socket and one read for the next hop.
            if message.prefix.readableBytes > 0 { context.write(wrapOutboundOut(stuffer.stuff(message.prefix)), promise: nil) }
            // A plain body is its own DATA stream: no pass over it (HeldBody.isPlain).
            let asIs = message.bodyIsPlain && stuffer.isAtLineStart
            context.write(wrapOutboundOut(asIs ? whole : stuffer.stuff(whole)), promise: nil)
            writeBodyChunk(ByteBuffer(), end: true, context: context).assumeIsolated().whenComplete { [self] in
                bodyWritten($0, context: context)
            }
            return
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let (reader, chunkSize, eventLoop) = (bodyReader, options.bodyChunkSize, context.eventLoop)
        // Fields added after spooling go first; the body file is sent as it is.
        let prefixSent = message.prefix.readableBytes > 0
            ? writeBodyChunk(message.prefix, end: false, context: context) : eventLoop.makeSucceededVoidFuture()
        let asIs = message.bodyIsPlain && stuffer.isAtLineStart // the prefix is stuffed by now
        prefixSent.flatMap {
            reader.read(message.body, chunkSize: chunkSize, on: eventLoop) { chunk in
                let (handler, context) = bound.value
                return handler.writeBodyChunk(chunk, end: false, asIs: asIs, context: context)
            }
        }
        .assumeIsolated().flatMap { [self] in
            writeBodyChunk(ByteBuffer(), end: true, context: context)
        }
        .whenComplete { [self] in bodyWritten($0, context: context) }
    }

    private func bodyWritten(_ result: Result<Void, Error>, context: ChannelHandlerContext) {
        switch result {
        case .success: perform(machine.bodySent(), context: context)
        case .failure(let error): perform(machine.bodyFailed("\(error)"), context: context)
        }
    }

    /// Writes one chunk of content dot-stuffed (`asIs`: a chunk of a plain
    /// body, as it is), or the end of the data; the next chunk is read once
    /// the channel has taken this one.
    private func writeBodyChunk(_ chunk: ByteBuffer, end: Bool, asIs: Bool = false,
                                context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        guard !closing else { return context.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        armTimer(context: context)
        if end {
            var output = context.channel.allocator.buffer(capacity: chunk.readableBytes + 8)
            stuffer.stuff(chunk, into: &output)
            stuffer.finish(into: &output)
            return context.writeAndFlush(wrapOutboundOut(output))
        }
        // Most chunks go out as they are (DotStuffer.stuff): no copy.
        return context.writeAndFlush(wrapOutboundOut(asIs ? chunk : stuffer.stuff(chunk)))
    }

    static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: return "TLSv1"
        case .tlsv11: return "TLSv1.1"
        case .tlsv12: return "TLSv1.2"
        case .tlsv13: return "TLSv1.3"
        }
    }

    // MARK: settling

    /// Completes every promise still open; used when the channel goes away.
    private func settleEverything(_ reason: DeliveryReason) {
        readyPromise?.fail(SMTPConnectionError(reason: reason))
        readyPromise = nil
        if let current {
            self.current = nil
            current.promise.succeed(.deferredAll(current.message.recipients.count, reason))
        }
        quitPromise?.succeed(())
        quitPromise = nil
        let requests = waiting
        waiting.removeAll()
        for request in requests { settle(request, reason) }
    }

    private func settle(_ request: ClientRequest, _ reason: DeliveryReason) {
        switch request {
        case .send(let message, let promise): promise.succeed(.deferredAll(message.recipients.count, reason))
        case .quit(let promise): promise.succeed(())
        }
    }
}
