import DNSModel
import IMAPCore
import Logging
import MailStore
import NIOCore
import NIOSSL
import POP3Core
import SMTPCore
import SMTPServer

/// Runs one POP3 session on a channel: frames lines, feeds the pure
/// `POP3Session`, and carries out its actions (replies, TLS, password
/// checks, the maildrop). Replies are flushed once per read burst, so
/// pipelined commands (RFC 2449 §6.6) get theirs together.
///
/// Commands are read only while nothing is in flight and the channel is
/// writable: a client that pipelines RETRs and never reads gets one
/// message's worth of output buffered at most.
public final class POP3ServerHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    let server: POP3ServerContext
    let clientAddress: String
    /// Throttling counts per address, per /64 for IPv6 (as SMTP AUTH).
    let clientKey: String
    var session: POP3Session
    private var decoder: SMTPFrameDecoder
    private var input = ByteBuffer()
    var logger: Logger
    /// Waiting for a check, the store, or a message still being sent:
    /// input stays buffered and reading stops.
    var paused = false
    private var reading = true
    var closing = false
    /// The daemon is stopping: close once the step in flight is over.
    private var closeWhenIdle = false
    private var pendingFlush = false
    private var timeout: Scheduled<Void>?
    /// INBOX of the logged-in user, and the lock held on it.
    var mailbox: (any MailboxView)?
    var lockedUser: String?
    /// RETR or TOP output still to be written.
    var outgoing: OutgoingMessage?
    private let slot: ConnectionSlot?

    /// `implicitTLS`: the listener put TLS in front of this handler.
    public init(server: POP3ServerContext, clientAddress: String, implicitTLS: Bool, slot: ConnectionSlot? = nil) {
        self.server = server
        self.clientAddress = clientAddress
        self.slot = slot
        clientKey = IPAddress(clientAddress)?.clientKey ?? clientAddress
        session = POP3Session(configuration: .init(
            hostname: server.hostname, tlsAvailable: server.tls != nil && !implicitTLS,
            allowPlaintextAuth: server.allowPlaintextAuth, limits: server.limits), tlsActive: implicitTLS)
        decoder = SMTPFrameDecoder(maxLineLength: server.limits.maxLineLength)
        logger = server.logger
        logger[metadataKey: "client"] = "\(clientAddress)"
        logger[metadataKey: "proto"] = "pop3"
    }

    public func channelActive(context: ChannelHandlerContext) {
        logger.debug("connect")
        POP3ServerMetrics.sessions.increment()
        write(session.greeting, context: context)
        flush(context: context)
        armTimeout(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        outgoing = nil
        releaseMaildrop()
        logger.debug("disconnect")
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !closing else { return }
        input.writeBuffer(&bytes)
        process(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flush(context: context)
        armTimeout(context: context)
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && !closing {
            if outgoing != nil {
                pump(context: context)
            } else if !paused {
                process(context: context)
                flush(context: context)
            }
        }
        updateReading(context: context)
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let notice = event as? ShutdownNotice else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // An UPDATE or a message in flight finishes first, unless forced.
        if notice.force || !paused {
            perform(session.shuttingDown(), context: context)
        } else {
            closeWhenIdle = true
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Clients often hang up after QUIT without a TLS close_notify: not worth a line.
        let routine = closing || (error as? NIOSSLError) == .uncleanShutdown
        logger.log(level: routine ? .debug : .info, "connection error", metadata: ["error": "\(error)"])
        close(context: context)
    }

    // MARK: input

    func process(context: ChannelHandlerContext) {
        while !paused && !closing && context.channel.isWritable, let frame = decoder.next(&input) {
            handle(frame, context: context)
        }
        updateReading(context: context)
        if input.readerIndex > 65536 || input.readableBytes == 0 { input.discardReadBytes() }
    }

    private func handle(_ frame: SMTPFrame, context: ChannelHandlerContext) {
        switch frame {
        case .command(let line) where session.isAwaitingSASLResponse:
            perform(session.saslResponse(SecretBytes(Array(line.readableBytesView))), context: context)
        case .command(let line):
            do {
                let command = try POP3CommandParser.parse(line.readableBytesView)
                POP3ServerMetrics.count(command)
                perform(session.receive(command), context: context)
            } catch {
                POP3ServerMetrics.unrecognizedCommands.increment()
                perform(session.receive(error), context: context)
            }
        case .commandTooLong:
            POP3ServerMetrics.unrecognizedCommands.increment()
            perform(session.lineTooLong(), context: context)
        case .dataContent, .dataEnd, .dataBareLineEnding, .chunkContent, .chunkEnd:
            // The decoder is never switched out of command mode here.
            break
        }
    }

    // MARK: actions

    func perform(_ action: POP3Session.Action, context: ChannelHandlerContext) {
        switch action {
        case .reply(let reply):
            write(reply, context: context)
        case .listing(let listing):
            var buffer = context.channel.allocator.buffer(capacity: 64 + listing.lines.count * 16)
            listing.write(into: &buffer)
            write(buffer, context: context)
        case .close(let reply):
            write(reply, context: context)
            close(context: context)
        case .startTLS(let reply):
            startTLS(reply, context: context)
        case .saslChallenge:
            write(context.channel.allocator.buffer(staticString: "+ \r\n"), context: context)
        case .verify(let credentials):
            verify(credentials, context: context)
        case .openMaildrop(let user):
            openMaildrop(user: user, context: context)
        case .retrieve(let message, let number, let bodyLines):
            retrieve(message, number: number, bodyLines: bodyLines, context: context)
        case .markedDeleted(let message, let number, let reply):
            logger.info("pop3 dele", metadata: Self.metadata(message, number: number))
            write(reply, context: context)
        case .update(let messages):
            update(messages, context: context)
        }
    }

    /// Runs `work` off the event loop with reading stopped, then `then` on
    /// the loop unless the session closed meanwhile.
    func work<T: Sendable>(context: ChannelHandlerContext, _ work: @escaping @Sendable () async -> T,
                           then: @escaping (POP3ServerHandler, ChannelHandlerContext, T) -> Void) {
        pause(context: context)
        let loopBound = NIOLoopBound((self, context, then), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask(work).whenSuccess { result in
            let (handler, context, then) = loopBound.value
            handler.paused = false
            guard !handler.closing, context.channel.isActive else { return }
            then(handler, context, result)
            handler.resume(context: context)
        }
    }

    /// After an asynchronous step: go on with buffered input, or close if
    /// the daemon is stopping.
    func resume(context: ChannelHandlerContext) {
        guard !paused, !closing, context.channel.isActive else { return }
        if closeWhenIdle { return perform(session.shuttingDown(), context: context) }
        armTimeout(context: context)
        process(context: context)
        flush(context: context)
    }

    private func startTLS(_ reply: POP3Reply, context: ChannelHandlerContext) {
        guard let tls = server.tls else { return }
        if input.readableBytes > 0 {
            // RFC 2595 §4 and CVE-2011-0411 (as SMTP's STARTTLS): lines
            // pipelined after STLS would be taken as sent under TLS.
            logger.notice("plaintext pipelined after STLS refused")
            input.clear()
            return perform(.close(.err("Commands pipelined after STLS refused")), context: context)
        }
        write(reply, context: context)
        flush(context: context)
        do {
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
        } catch {
            logger.error("could not start TLS", metadata: ["error": "\(error)"])
            return close(context: context)
        }
        session.tlsEstablished()
    }

    // MARK: output

    func write(_ reply: POP3Reply, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        write(buffer, context: context)
    }

    func write(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        POP3ServerMetrics.sentBytes.increment(by: buffer.readableBytes)
        context.write(wrapOutboundOut(buffer), promise: nil)
        pendingFlush = true
    }

    func flush(context: ChannelHandlerContext) {
        guard pendingFlush else { return }
        pendingFlush = false
        context.flush()
    }

    func close(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        slot?.release()
        releaseMaildrop()
        flush(context: context)
        timeout?.cancel()
        context.close(promise: nil)
    }

    func pause(context: ChannelHandlerContext) {
        paused = true
        updateReading(context: context)
    }

    /// Reads only while nothing waits: no step in flight, replies draining.
    func updateReading(context: ChannelHandlerContext) {
        let wanted = !paused && !closing && context.channel.isWritable
        guard wanted != reading else { return }
        reading = wanted
        context.channel.setOption(ChannelOptions.autoRead, value: wanted).whenFailure { _ in }
    }

    /// RFC 1939 §3's autologout timer, from the last command or the last
    /// part of a message sent; it does not end a step in flight.
    func armTimeout(context: ChannelHandlerContext) {
        timeout?.cancel()
        guard !closing else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let idle = TimeAmount.milliseconds(Int64(server.limits.idleTimeoutSeconds * 1000))
        timeout = context.eventLoop.scheduleTask(in: idle) {
            let (handler, context) = loopBound.value
            // A message being sent counts as activity only while it moves.
            guard !handler.paused || handler.outgoing != nil else { return handler.armTimeout(context: context) }
            handler.logger.info("timeout")
            handler.perform(handler.session.timedOut(), context: context)
        }
    }
}
