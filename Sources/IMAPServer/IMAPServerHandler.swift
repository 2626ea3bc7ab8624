import IMAPCore
import Logging
import NIOCore
import NIOSSL

/// One IMAP connection: frames the input (IMAPFrameDecoder), runs one
/// command at a time through the session, writes what it answers, and
/// does what only the connection can: STARTTLS, IDLE polling, timeouts.
/// Reading stops while a command runs and more input is queued, so a
/// client cannot make the server buffer without bound.
final class IMAPServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Mode {
        case commands
        /// Waiting for the client's line inside AUTHENTICATE.
        case authContinuation
        /// IDLE: only DONE ends it (RFC 2177).
        case idle(tag: String)
        case closing
    }

    let server: IMAPServerContext
    let session: IMAPSession
    var decoder: IMAPFrameDecoder
    var input = ByteBuffer()
    var frames: [IMAPFrame] = []
    var mode = Mode.commands
    var busy = false
    var reading = true
    var timeout: Scheduled<Void>?
    var idlePoll: Scheduled<Void>?
    var loggedIn = false
    let logger: Logger
    /// Frames queued before reading pauses.
    static let maxQueuedFrames = 8

    init(server: IMAPServerContext, clientAddress: String, isTLS: Bool) {
        self.server = server
        session = IMAPSession(context: server, clientAddress: clientAddress, isTLS: isTLS)
        decoder = IMAPFrameDecoder(limits: server.limits)
        var logger = server.logger
        logger[metadataKey: "client"] = "\(clientAddress)"
        logger[metadataKey: "proto"] = "imap"
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        IMAPServerMetrics.sessions.increment()
        logger.debug("connected")
        armTimeout(context: context)
        run(context: context) { session in await session.greeting() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        idlePoll?.cancel()
        mode = .closing
        if server.userSessions != nil {
            let session = self.session
            Task { await session.ended() }
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if case .closing = mode { return }
        input.writeBuffer(&buffer)
        while let frame = decoder.next(&input) {
            frames.append(frame)
        }
        armTimeout(context: context)
        processNext(context: context)
    }

    /// The daemon is stopping.
    struct ShuttingDown: Sendable {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ShuttingDown else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if case .closing = mode { return }
        write(Array("* BYE Server shutting down\r\n".utf8), context: context)
        close(context: context, reason: "shutdown")
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: - Running commands

    private func processNext(context: ChannelHandlerContext) {
        updateReading(context: context)
        guard !busy, !frames.isEmpty else { return }
        if case .closing = mode { return }
        let frame = frames.removeFirst()
        switch frame {
        case .needsContinuation:
            write(Array("+ Ready for literal data\r\n".utf8), context: context)
            processNext(context: context)
        case .lineTooLong:
            write(Array("* BAD Line too long\r\n".utf8), context: context)
            close(context: context, reason: "line too long")
        case .literalTooLarge(let rejection):
            let tag = rejection.tag ?? "*"
            write(Array("\(tag) \(tag == "*" ? "" : "NO ")[TOOBIG] Literal too large\r\n".utf8), context: context)
            if !rejection.synchronizing || decoder.isStopped {
                close(context: context, reason: "literal too large")
            } else {
                processNext(context: context)
            }
        case .command(let line):
            handleLine(line, context: context)
        }
    }

    private func handleLine(_ line: ByteBuffer, context: ChannelHandlerContext) {
        switch mode {
        case .closing:
            return
        case .idle(let tag):
            idlePoll?.cancel()
            mode = .commands
            do {
                try IMAPCommandParser.parseIdleDone(line)
                write(Array("\(tag) OK IDLE terminated\r\n".utf8), context: context)
            } catch {
                write(Array("\(tag) BAD Expected DONE\r\n".utf8), context: context)
            }
            processNext(context: context)
        case .authContinuation:
            mode = .commands
            let response: AuthenticationResponse
            do {
                response = try IMAPCommandParser.parseAuthenticationResponse(line)
            } catch {
                response = .response(SecretBytes("!"))  // not base64: the session answers BAD
            }
            run(context: context) { session in await session.authenticationResponse(response) }
        case .commands:
            let command: TaggedCommand
            do {
                command = try IMAPCommandParser.parse(line, limits: server.limits)
            } catch {
                let text = error.text
                run(context: context) { session in await session.refuse(tag: error.tag, text) }
                return
            }
            if command.command == .startTLS, !input.readableBytesView.isEmpty || !frames.isEmpty {
                // RFC 3501 §6.2.1 / RFC 2595 §3.1: nothing may follow
                // STARTTLS in the clear (it would be read as if protected).
                write(Array("\(command.tag) BAD Nothing may follow STARTTLS before the handshake\r\n".utf8), context: context)
                close(context: context, reason: "pipelined after STARTTLS")
                return
            }
            if command.command == .idle { idleTag = command.tag }
            run(context: context) { session in await session.handle(command) }
        }
    }

    /// Runs session work off the event loop, then writes its output here.
    private func run(context: ChannelHandlerContext, _ work: @escaping @Sendable (IMAPSession) async -> SessionOutput) {
        busy = true
        updateReading(context: context)
        let promise = context.eventLoop.makePromise(of: SessionOutput.self)
        let session = self.session
        promise.completeWithTask {
            var output = await work(session)
            output.authenticated = await session.isAuthenticated
            return output
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { output in
            let (handler, context) = loopBound.value
            handler.busy = false
            handler.finish(output, context: context)
        }
    }

    private func finish(_ output: SessionOutput, context: ChannelHandlerContext) {
        if case .closing = mode { return }
        if output.authenticated != loggedIn {
            loggedIn = output.authenticated
            armTimeout(context: context)
        }
        if !output.bytes.isEmpty { write(output.bytes, context: context) }
        switch output.after {
        case .none:
            break
        case .close:
            close(context: context, reason: nil)
            return
        case .startTLS:
            startTLS(context: context)
        case .authContinuation:
            mode = .authContinuation
        case .idle:
            // The tag is the one whose "+ idling" was just written; the
            // session's last command carried it.
            mode = .idle(tag: idleTag ?? "*")
            scheduleIdlePoll(context: context)
        }
        processNext(context: context)
    }

    /// The tag of the IDLE command, for its completion.
    var idleTag: String?

    private func write(_ bytes: [UInt8], context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func close(context: ChannelHandlerContext, reason: String?) {
        if let reason { logger.info("closing", metadata: ["reason": "\(reason)"]) }
        mode = .closing
        timeout?.cancel()
        idlePoll?.cancel()
        context.close(promise: nil)
    }

    // MARK: - TLS, IDLE, timeouts, flow

    private func startTLS(context: ChannelHandlerContext) {
        guard let tls = server.tls else { return }
        do {
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
        } catch {
            close(context: context, reason: "TLS setup failed: \(error)")
        }
    }

    private func scheduleIdlePoll(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idlePoll = context.eventLoop.scheduleTask(in: server.idlePollInterval) {
            let (handler, context) = loopBound.value
            guard case .idle = handler.mode, !handler.busy else { return }
            handler.busy = true
            let promise = context.eventLoop.makePromise(of: SessionOutput.self)
            let session = handler.session
            promise.completeWithTask { await session.idlePoll() }
            promise.futureResult.whenSuccess { output in
                let (handler, context) = loopBound.value
                handler.busy = false
                guard case .idle = handler.mode else {
                    handler.processNext(context: context)
                    return
                }
                if !output.bytes.isEmpty { handler.write(output.bytes, context: context) }
                handler.scheduleIdlePoll(context: context)
                handler.processNext(context: context)
            }
        }
    }

    /// Autologout (RFC 3501 §5.4) after the idle timeout; before login
    /// the shorter login timeout, shorter still under stress.
    private func armTimeout(context: ChannelHandlerContext) {
        timeout?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let stressed = server.connections?.isStressed == true
        let limit = loggedIn ? server.idleTimeout
            : stressed ? min(server.loginTimeout, server.stressLoginTimeout) : server.loginTimeout
        timeout = context.eventLoop.scheduleTask(in: limit) {
            let (handler, context) = loopBound.value
            handler.write(Array("* BYE Autologout; idle for too long\r\n".utf8), context: context)
            handler.close(context: context, reason: "idle timeout")
        }
    }

    private func updateReading(context: ChannelHandlerContext) {
        let wanted = frames.count < Self.maxQueuedFrames && !decoder.isStopped
        guard wanted != reading else { return }
        reading = wanted
        context.channel.setOption(ChannelOptions.autoRead, value: wanted).whenFailure { _ in }
    }
}
