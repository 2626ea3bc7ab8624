import Logging
import MailMessage
import MailQueue
import NIOCore
import NIOSSL
import SMTPCore

/// Runs one SMTP session on a channel: frames the input, feeds the pure
/// `ServerSession`, and carries out its actions (replies, TLS, spooling,
/// commits). Replies are flushed once per read burst, so a pipelined group
/// of commands gets its replies in one packet (RFC 2920).
public final class SMTPServerHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private let clientAddress: String
    private var session: ServerSession
    private var decoder: SMTPFrameDecoder
    private var input = ByteBuffer()
    private var body: MessageBodyWriter?
    /// A refused BDAT chunk being read and thrown away, and its reply.
    private var discardReply: SMTPReply?
    /// Waiting for the queue: input stays buffered until the reply is out.
    private var awaitingCommit = false
    private var closing = false
    /// The daemon is stopping: close once the transaction in progress is done.
    private var closeWhenIdle = false
    private var pendingFlush = false
    private var timeout: Scheduled<Void>?
    private var logger: Logger

    public init(server: ServerContext, clientAddress: String) {
        self.server = server
        self.clientAddress = clientAddress
        session = ServerSession(configuration: .init(hostname: server.hostname, limits: server.limits,
                                                     tlsAvailable: server.tls != nil))
        decoder = SMTPFrameDecoder(maxLineLength: server.limits.maxCommandLineLength)
        logger = server.logger
        logger[metadataKey: "client"] = "\(clientAddress)"
    }

    public func channelActive(context: ChannelHandlerContext) {
        logger.debug("connect")
        write(session.banner, context: context)
        flush(context: context)
        armTimeout(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        body?.spool.discard()
        body = nil
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

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let notice = event as? ShutdownNotice else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if notice.force || (session.transaction == nil && !awaitingCommit) {
            shutDown(context: context)
        } else {
            closeWhenIdle = true
        }
    }

    private func shutDown(context: ChannelHandlerContext) {
        guard !closing else { return }
        body?.spool.discard()
        body = nil
        perform(.close([SMTPReply(code: 421, enhanced: EnhancedStatusCode(4, 3, 2),
                                  text: "\(server.hostname) Service shutting down, try again later")]), context: context)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.info("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: input

    private func process(context: ChannelHandlerContext) {
        while !awaitingCommit && !closing, let frame = decoder.next(&input) {
            handle(frame, context: context)
        }
        if input.readerIndex > 65536 || input.readableBytes == 0 { input.discardReadBytes() }
    }

    private func handle(_ frame: SMTPFrame, context: ChannelHandlerContext) {
        switch frame {
        case .command(let line):
            let action: ServerSession.Action
            do {
                action = session.receive(try CommandParser.parse(line.readableBytesView))
            } catch {
                action = session.receive(error)
            }
            perform(action, context: context)
        case .commandTooLong:
            perform(session.lineTooLong(), context: context)
        case .dataContent(let content):
            if session.contentReceived(content.readableBytes) { body?.append(content, checkLineEndings: false) }
        case .dataEnd:
            perform(session.contentEnded(), context: context)
        case .dataBareLineEnding:
            logger.notice("bare CR or LF in DATA refused")
            perform(session.bareLineEnding(), context: context)
        case .chunkContent(let content):
            if discardReply == nil, session.contentReceived(content.readableBytes) {
                body?.append(content, checkLineEndings: true)
            }
        case .chunkEnd:
            if let reply = discardReply {
                discardReply = nil
                write(reply, context: context)
            } else {
                if body?.sawBareLineEnding == true { session.markBareLineEnding() }
                perform(session.contentEnded(), context: context)
            }
        }
    }

    // MARK: actions

    private func perform(_ action: ServerSession.Action, context: ChannelHandlerContext) {
        switch action {
        case .reply(let reply):
            write(reply, context: context)
        case .close(let replies):
            replies.forEach { write($0, context: context) }
            close(context: context)
        case .startTLS(let reply):
            startTLS(reply, context: context)
        case .startData(let reply):
            openBody()
            decoder.beginData()
            write(reply, context: context)
        case .startChunk(let size):
            if body == nil { openBody() }
            decoder.beginChunk(size: size)
        case .discardChunk(let size, let reply):
            discardReply = reply
            decoder.beginChunk(size: size)
        case .commit(let transaction):
            commit(transaction, context: context)
        case .abortMessage(let reply):
            logger.info("message refused", metadata: ["reply": "\(reply)"])
            body?.spool.discard()
            body = nil
            write(reply, context: context)
        }
    }

    /// The "with" keyword of the Received line (RFC 3848, RFC 6531 §3.7.3).
    private var receivedProtocol: String {
        let extended = session.greeting?.extended ?? true
        let base = session.transaction?.parameters.smtpUTF8 == true ? "UTF8SMTP" : (extended ? "ESMTP" : "SMTP")
        return base + (session.tlsActive ? "S" : "")
    }

    private func openBody() {
        let spool = server.queue.makeSpool()
        let recipients = session.transaction?.recipients ?? []
        let received = ReceivedHeader(
            helo: session.greeting?.name, reverseName: Self.reverseName(clientAddress), clientIP: clientAddress,
            byHost: server.hostname, withProtocol: receivedProtocol, id: spool.id.description,
            forRecipient: recipients.count == 1 ? recipients[0].address : nil, date: .now)
        body = MessageBodyWriter(spool: spool, receivedLine: received.rendered(),
                                 messageIDDomain: server.hostname, maxHeaderBytes: server.limits.maxHeaderBytes)
    }

    /// No DNS here yet: loopback clients are "localhost", others "unknown"
    /// (the form Postfix uses when a PTR lookup gives nothing).
    static func reverseName(_ address: String) -> String {
        address.hasPrefix("127.") || address == "::1" ? "localhost" : "unknown"
    }

    private func commit(_ transaction: Transaction, context: ChannelHandlerContext) {
        guard var writer = body else {
            write(session.commitFailed(), context: context)
            return
        }
        body = nil
        let spool = writer.finish()
        let envelope = Envelope(
            id: spool.id, sender: transaction.sender.mailbox?.description ?? "",
            recipients: transaction.recipients.map { Envelope.Recipient(address: $0.address) },
            size: spool.size, clientAddress: clientAddress, clientHelo: session.greeting?.name,
            receivedProtocol: receivedProtocol, eightBitMIME: transaction.parameters.body == .eightBitMIME,
            smtpUTF8: transaction.parameters.smtpUTF8)
        awaitingCommit = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        server.queue.commit(spool, envelope: envelope) { result in
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.commitFinished(result, envelope: envelope, context: context)
            }
        }
    }

    private func commitFinished(_ result: Result<Void, QueueIOError>, envelope: Envelope, context: ChannelHandlerContext) {
        awaitingCommit = false
        switch result {
        case .success:
            logger.info("queued", metadata: [
                "id": "\(envelope.id)", "from": "<\(envelope.sender)>", "nrcpt": "\(envelope.recipients.count)",
                "size": "\(envelope.size)", "proto": "\(envelope.receivedProtocol)",
            ])
            write(session.commitSucceeded(queueID: envelope.id.description), context: context)
            server.onCommit(envelope.id)
        case .failure(let error):
            logger.error("queue commit failed", metadata: ["id": "\(envelope.id)", "error": "\(error)"])
            write(session.commitFailed(), context: context)
        }
        guard context.channel.isActive else { return }
        if closeWhenIdle {
            shutDown(context: context)
            return
        }
        process(context: context)
        flush(context: context)
    }

    private func startTLS(_ reply: SMTPReply, context: ChannelHandlerContext) {
        guard let tls = server.tls else { return }
        if input.readableBytes > 0 {
            // RFC 3207 §5 / CVE-2011-0411: commands pipelined after STARTTLS
            // would be read as if they came over TLS. Refuse the lot.
            logger.notice("plaintext pipelined after STARTTLS refused")
            input.clear()
            perform(.close([SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 5, 1),
                                      text: "Commands pipelined after STARTTLS refused")]), context: context)
            return
        }
        write(reply, context: context)
        flush(context: context)
        // The 220 is already below us in the pipeline; what comes next is TLS.
        let sslHandler = NIOSSLServerHandler(context: tls)
        do {
            try context.pipeline.syncOperations.addHandler(sslHandler, position: .first)
        } catch {
            logger.error("could not start TLS", metadata: ["error": "\(error)"])
            close(context: context)
            return
        }
        session.tlsEstablished()
    }

    // MARK: output

    private func write(_ reply: SMTPReply, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: nil)
        pendingFlush = true
    }

    private func flush(context: ChannelHandlerContext) {
        guard pendingFlush else { return }
        pendingFlush = false
        context.flush()
    }

    private func close(context: ChannelHandlerContext) {
        closing = true
        flush(context: context)
        timeout?.cancel()
        context.close(promise: nil)
    }

    /// RFC 5321 §4.5.3.2: 5 minutes for a command, 3 for data blocks.
    private func armTimeout(context: ChannelHandlerContext) {
        timeout?.cancel()
        guard !closing else { return }
        let seconds = session.isReceivingMessage ? server.limits.dataTimeoutSeconds : server.limits.commandTimeoutSeconds
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: .seconds(Int64(seconds))) {
            let (handler, context) = loopBound.value
            guard !handler.awaitingCommit else { return }
            handler.logger.info("timeout")
            handler.perform(handler.session.timedOut(), context: context)
        }
    }
}
