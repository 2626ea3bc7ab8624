import DNSModel
import Logging
import MailMessage
import MailQueue
import NIOCore
import NIOSSL
import NIOTLS
import Policy
import SMTPCore
import SPF

/// Runs one SMTP session on a channel: frames the input, feeds the pure
/// `ServerSession`, and carries out its actions (replies, TLS, spooling,
/// commits). Replies are flushed once per read burst, so a pipelined group
/// of commands gets its replies in one packet (RFC 2920).
///
/// Memory per connection stays bounded whatever the client does: commands
/// are read only while the channel is writable (NIO's write-buffer water
/// marks), so a client that pipelines and never reads its replies stops
/// being read instead of piling replies up here.
public final class SMTPServerHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    let server: ServerContext
    let clientAddress: String
    let clientIP: IPAddress?
    var session: ServerSession
    private(set) var decoder: SMTPFrameDecoder
    private(set) var input = SessionInput()
    var body: MessageBodyWriter?
    /// A refused BDAT chunk being read and thrown away, and its reply.
    private var discardReply: SMTPReply?
    /// Waiting for the policy or the queue: input stays buffered until the
    /// reply is out (commands are answered in order, RFC 2920), and reading
    /// from the socket stops, so a client cannot pile up memory meanwhile.
    var paused = false
    /// Reading is on (autoRead): neither paused nor held up by unsent replies.
    var reading = true
    var closing = false
    /// Header edits and quarantine decided for the current transaction.
    var transactionEdits: [HeaderEdit] = []
    var quarantineReason: String?
    /// MAIL FROM's SPF result, for DMARC at the end of DATA.
    var transactionSPF: SPFResult?
    /// The scanners' verdicts for the message's log line.
    var scanNotes: [String] = []
    /// The SASL exchange in progress, if any.
    var sasl: SASLExchange?
    /// The daemon is stopping: close once the transaction in progress is done.
    private var closeWhenIdle = false
    private var pendingFlush = false
    /// STARTTLS answered and the handshake not yet over (for the metrics).
    private var tlsHandshaking = false
    var timeout = MovingDeadline<SessionDeadlines.Expiry>()
    var deadlines = SessionDeadlines(now: .now())
    var logger: Logger
    /// Given back as soon as the session decides to close.
    private let slot: ConnectionSlot?

    public init(server: ServerContext, clientAddress: String, slot: ConnectionSlot? = nil) {
        self.server = server
        self.slot = slot
        self.clientAddress = clientAddress
        clientIP = IPAddress(clientAddress)
        var limits = server.limits
        let policy = server.policy.config
        if let maxRecipients = policy.recipients.maxRecipients { limits.maxRecipients = maxRecipients }
        session = ServerSession(configuration: .init(
            hostname: server.hostname, limits: limits, tlsAvailable: server.tls != nil,
            authMechanisms: server.policy.authMechanisms, authRequiresTLS: !policy.auth.allowPlaintext))
        decoder = SMTPFrameDecoder(maxLineLength: server.limits.maxCommandLineLength)
        logger = server.logger
        logger[metadataKey: "client"] = "\(clientAddress)"
        refreshSizeLimit()
    }

    /// The size limit for what is known of the client now (network, then
    /// user after AUTH); advertised by SIZE and enforced by the session.
    func refreshSizeLimit() {
        session.messageSizeLimit = server.policy.config.messageSizeLimit(for: facts, global: server.limits.maxMessageSize)
    }

    /// Throttles and rate limits count per address, per /64 for IPv6.
    var clientKey: String { clientIP?.clientKey ?? clientAddress }

    /// What the policy knows about this client now.
    var facts: SessionFacts {
        SessionFacts(clientIP: clientIP, helo: session.greeting?.name, tls: session.tlsActive, user: session.authenticatedUser)
    }

    public func channelActive(context: ChannelHandlerContext) {
        logger.debug("connect")
        deadlines = SessionDeadlines(now: context.eventLoop.now)
        armTimeout(context: context)
        context.fireChannelActive()
        guard server.policy.pipeline.checks(.connect) else {
            greet(context: context)
            return
        }
        let pipeline = server.policy.pipeline
        let facts = self.facts
        check(context: context, inline: pipeline.connectInline(facts), { await pipeline.connect(facts) }) { handler, context, outcome in
            guard let refusal = outcome.refusal else {
                handler.greet(context: context)
                return
            }
            // RFC 5321 §3.1: 554 instead of the greeting (421 when temporary).
            handler.logRefusal(outcome, phase: "connect")
            handler.perform(.close([refusal]), context: context)
        }
    }

    private func greet(context: ChannelHandlerContext) {
        write(session.banner, context: context)
        flush(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timeout.cancel()
        body?.spool.discard()
        body = nil
        logger.debug("disconnect")
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !closing else { return }
        SMTPServerMetrics.receivedBytes.increment(by: bytes.readableBytes)
        input.append(&bytes, content: decoder.mode == .data)
        process(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flush(context: context)
        restartTimer(context: context)
        context.fireChannelReadComplete()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event, tlsHandshaking {
            tlsHandshaking = false
            SMTPServerMetrics.countHandshake(success: true, version: try? context.pipeline.syncOperations.nioSSL_tlsVersion())
        }
        if event is TimerChangeNotice {
            armTimeout(context: context)
            return
        }
        guard let notice = event as? ShutdownNotice else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if notice.force || (session.transaction == nil && !paused) {
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
        if tlsHandshaking {
            tlsHandshaking = false
            SMTPServerMetrics.countHandshake(success: false, version: nil)
        }
        logger.info("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: input

    func process(context: ChannelHandlerContext) {
        // Unsent replies past the high water mark: read nothing more until
        // they drain (channelWritabilityChanged), so they cannot grow.
        while !paused && !closing && context.channel.isWritable, let frame = decoder.next(&input.bytes) {
            handle(frame, context: context)
        }
        updateReading(context: context)
        // Stopping: a session whose transaction just ended (RSET, a refusal)
        // is told so now, not at the end of the grace period.
        if closeWhenIdle && !paused && !closing && session.transaction == nil {
            shutDown(context: context)
            return
        }
        input.settle(commands: decoder.mode == .command)
    }

    private func handle(_ frame: SMTPFrame, context: ChannelHandlerContext) {
        if frame.endsCommandLine { deadlines.lineEnded() }
        switch frame {
        case .command(let line) where session.isAuthenticating:
            saslResponse(String(decoding: line.readableBytesView, as: UTF8.self), context: context)
        case .command(let line):
            let action: ServerSession.Action
            do {
                let command = try CommandParser.parse(line.readableBytesView)
                SMTPServerMetrics.count(command)
                action = session.receive(command)
            } catch {
                SMTPServerMetrics.unrecognizedCommands.increment()
                action = session.receive(error)
            }
            perform(action, context: context)
            // A transaction ended by RSET, HELO or EHLO after BDAT chunks
            // without LAST: what they brought must not begin the next message.
            if body != nil && session.transaction == nil {
                body?.spool.discard()
                body = nil
            }
        case .commandTooLong where session.isAuthenticating:
            // A SASL response past the line limit ends the exchange, so the
            // client's next line is read as a command again.
            sasl = nil
            perform(session.authAborted(SMTPReply(code: 500, enhanced: EnhancedStatusCode(5, 5, 6),
                                                  text: "Authentication response too long")), context: context)
        case .commandTooLong:
            perform(session.lineTooLong(), context: context)
        case .dataContent(let content):
            if session.contentReceived(content.readableBytes) {
                body?.append(content, plainLongest: decoder.plainContentLongest)
                waitForDiskIfBehind(context: context)
            }
        case .dataEnd:
            markTextDefects()
            perform(session.contentEnded(), context: context)
        case .dataBareLineEnding:
            logger.notice("bare CR or LF in DATA refused")
            perform(session.bareLineEnding(), context: context)
        case .chunkContent(let content):
            if discardReply == nil, session.contentReceived(content.readableBytes) {
                body?.append(content)
                waitForDiskIfBehind(context: context)
            }
        case .chunkEnd:
            if let reply = discardReply {
                discardReply = nil
                write(reply, context: context)
            } else {
                markTextDefects()
                perform(session.contentEnded(), context: context)
            }
        }
    }

    /// What the text check found refuses the message at its end.
    private func markTextDefects() {
        guard let check = body?.textCheck else { return }
        if check.sawBareLineEnding { session.markTextDefect(.bareLineEnding) }
        if check.sawNUL { session.markTextDefect(.nul) }
        if check.hasLongLine && server.limits.longLines == .refuse { session.markTextDefect(.longLine) }
    }

    // MARK: actions

    func perform(_ action: ServerSession.Action, context: ChannelHandlerContext) {
        switch action {
        case .reply(let reply):
            write(reply, context: context)
        case .close(let replies):
            replies.forEach { write($0, context: context) }
            close(context: context)
        case .startTLS(let reply):
            startTLS(reply, context: context)
        case .startData(let reply):
            openBody(chunked: false)
            decoder.beginData()
            readContentInLargeBuffers(context: context)
            write(reply, context: context)
        case .startChunk(let size):
            if body == nil { openBody(chunked: true) }
            readContentInLargeBuffers(context: context)
            decoder.beginChunk(size: size)
        case .discardChunk(let size, let reply):
            discardReply = reply
            decoder.beginChunk(size: size)
        case .commit(let transaction):
            checkMessage(transaction, context: context)
        case .abortMessage(let reply):
            logger.info("message refused", metadata: ["reply": "\(reply)"])
            SMTPServerMetrics.countRefusal(reply, phase: "data", filter: "smtp")
            body?.spool.discard()
            body = nil
            resetTransactionPolicy()
            write(reply, context: context)
        case .checkHELO(let reply):
            checkHELO(reply, context: context)
        case .checkSender(let transaction):
            checkSender(transaction, context: context)
        case .checkRecipient(let recipient):
            checkRecipient(recipient, context: context)
        case .authenticate(let mechanism, let initialResponse):
            startAuthentication(mechanism: mechanism, initialResponse: initialResponse, context: context)
        }
    }

    /// NIO's adaptive receive buffer starts at 2 KiB and halves after small
    /// reads, so by DATA the commands have shrunk it to 512 octets and a
    /// 4 KiB body took four reads, a 100 KiB one ten and three trips
    /// through epoll. Message content starts again at the largest size;
    /// the commands after it shrink it as before (issue #15).
    private func readContentInLargeBuffers(context: ChannelHandlerContext) {
        try? context.channel.syncOptions?.setOption(.recvAllocator, value: Self.contentReceiveBuffers)
    }

    private static let contentReceiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 65536,
                                                                               maximum: 65536)

    private func openBody(chunked: Bool) {
        let spool = server.queue.makeSpool()
        let recipients = session.transaction?.recipients ?? []
        let received = ReceivedHeader(
            helo: session.greeting?.name, reverseName: Self.reverseName(clientAddress), clientIP: clientAddress,
            byHost: server.hostname, withProtocol: session.receivedProtocol, id: spool.id.description,
            forRecipient: recipients.count == 1 ? recipients[0].address : nil, date: .now,
            authenticatedUser: session.authenticatedUser)
        body = MessageBodyWriter(spool: spool, receivedLine: received.rendered(),
                                 messageIDDomain: server.hostname, maxHeaderBytes: server.limits.maxHeaderBytes,
                                 rewriter: server.policy.rewriter, edits: transactionEdits, chunked: chunked)
    }

    /// No DNS here yet: loopback clients are "localhost", others "unknown"
    /// (the form Postfix uses when a PTR lookup gives nothing).
    static func reverseName(_ address: String) -> String {
        address.hasPrefix("127.") || address == "::1" ? "localhost" : "unknown"
    }

    /// Makes the message durable; the reply waits for the queue.
    func commit(_ transaction: Transaction, spool: Spool, late: LateFields = LateFields(), context: ChannelHandlerContext) {
        let sender = transaction.sender.mailbox?.description ?? ""
        var envelope = Envelope(
            id: spool.id, sender: server.policy.rewriter?.masquerade(address: sender) ?? sender,
            recipients: zip(transaction.recipients, transaction.recipientParameters).map {
                Envelope.Recipient(address: $0.address, dsn: $1)
            },
            size: spool.size, clientAddress: clientAddress, clientHelo: session.greeting?.name,
            receivedProtocol: session.receivedProtocol, eightBitMIME: transaction.parameters.body == .eightBitMIME,
            smtpUTF8: transaction.parameters.smtpUTF8)
        envelope.dsnReturn = transaction.parameters.dsnReturn
        envelope.envelopeID = transaction.parameters.envelopeID
        envelope.addedHeaders = late.fields
        envelope.bodyOffset = late.bodyOffset
        let quarantine = quarantineReason
        if let quarantine {
            envelope.state = .quarantine
            envelope.quarantineReason = quarantine
        }
        let scan = scanNotes, committed = envelope
        resetTransactionPolicy()
        pause(context: context)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        server.queue.commit(spool, envelope: committed) { result in
            // Set by the committer before this completion: nil for a body
            // that went to the file while it arrived.
            let body = spool.committedBody
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.commitFinished(result, envelope: committed, body: body, quarantine: quarantine, scan: scan,
                                       context: context)
            }
        }
    }

    private func commitFinished(_ result: Result<Void, QueueIOError>, envelope: Envelope, body: HeldBody?, quarantine: String?,
                                scan: [String], context: ChannelHandlerContext) {
        unpause(context: context)
        switch result {
        case .success:
            var metadata: Logger.Metadata = [
                "id": "\(envelope.id)", "from": "<\(envelope.sender)>", "nrcpt": "\(envelope.recipients.count)",
                "size": "\(envelope.size)", "proto": "\(envelope.receivedProtocol)",
            ]
            if let user = session.authenticatedUser { metadata["user"] = "\(user)" }
            if let quarantine { metadata["quarantine"] = "\(quarantine)" }
            if !scan.isEmpty { metadata["scan"] = "\(scan.joined(separator: " "))" }
            logger.info(quarantine == nil ? "queued" : "quarantined", metadata: metadata)
            (quarantine == nil ? SMTPServerMetrics.queued : SMTPServerMetrics.quarantined).increment()
            write(session.commitSucceeded(queueID: envelope.id.description), context: context)
            if quarantine == nil { server.onCommit(envelope, body) } else { server.onQuarantine(envelope.id) }
        case .failure(let error):
            logger.error("queue commit failed", metadata: ["id": "\(envelope.id)", "error": "\(error)"])
            let reply = session.commitFailed()
            SMTPServerMetrics.countRefusal(reply, phase: "data", filter: "queue")
            write(reply, context: context)
        }
        resume(context: context)
    }

    /// The spool's writer is more than a few blocks behind (a disk slower
    /// than the client): read nothing more until it catches up, so memory
    /// stays bounded without the event loop waiting for the disk.
    private func waitForDiskIfBehind(context: ChannelHandlerContext) {
        guard let spool = body?.spool, spool.isBacklogged, !paused else { return }
        pause(context: context)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        spool.whenWritten {
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.unpause(context: context)
                handler.resume(context: context)
            }
        }
    }

    /// After an asynchronous step: go on with buffered input, or close if
    /// the daemon is stopping.
    func resume(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        restartTimer(context: context)
        if closeWhenIdle && session.transaction == nil {
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
        tlsHandshaking = true
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
        resetTransactionPolicy()
        // Whatever was learned in plaintext is gone (RFC 3207 §4.2), AUTH too.
        logger[metadataKey: "user"] = nil
        refreshSizeLimit()
    }

    // MARK: output

    func write(_ reply: SMTPReply, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        SMTPServerMetrics.count(reply)
        SMTPServerMetrics.sentBytes.increment(by: buffer.readableBytes)
        context.write(wrapOutboundOut(buffer), promise: nil)
        pendingFlush = true
    }

    func flush(context: ChannelHandlerContext) {
        guard pendingFlush else { return }
        pendingFlush = false
        context.flush()
    }

    private func close(context: ChannelHandlerContext) {
        closing = true
        slot?.release()
        flush(context: context)
        timeout.cancel()
        context.close(promise: nil)
    }
}

/// Header fields decided after the body was spooled, and how many of the
/// spooled octets they replace (`Envelope.addedHeaders`, `bodyOffset`).
struct LateFields: Sendable {
    var fields: [String] = []
    var bodyOffset = 0
}

/// What the end-of-DATA task decided: the filters' outcome and, when they
/// let the message through, the fields to add (DKIM-Signature included).
struct CheckedMessage: Sendable {
    var outcome: PolicyPipeline.Outcome
    var late = LateFields()
}
