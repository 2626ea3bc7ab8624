import NIOCore
import SMTPCore

/// Flow control and timers: reading stops while a check runs or while
/// replies wait to be sent, and every session is bounded in time by
/// `SessionDeadlines`.
extension SMTPServerHandler {
    /// Replies left the write buffer, or piled up in it: go on reading
    /// commands, or stop until they drain.
    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && !paused && !closing {
            process(context: context)
            flush(context: context)
            // What was buffered may have ended a line or begun DATA: the deadline follows.
            restartTimer(context: context)
        }
        updateReading(context: context)
        context.fireChannelWritabilityChanged()
    }

    func pause(context: ChannelHandlerContext) {
        paused = true
        updateReading(context: context)
    }

    func unpause(context: ChannelHandlerContext) {
        paused = false
        updateReading(context: context)
    }

    /// Reads only while nothing waits: no check in flight, replies draining.
    /// A pause stops reading only once input arrives during it: a client
    /// that waits for its reply (most do) costs no epoll_ctl pair per
    /// message (issue #15), and one that does not gets at most one read
    /// event's worth more (NIO's maxMessagesPerRead reads) before reading
    /// stops.
    func updateReading(context: ChannelHandlerContext) {
        let wanted = (!paused || input.readableBytes == 0) && !closing && context.channel.isWritable
        guard wanted != reading else { return }
        reading = wanted
        context.channel.setOption(ChannelOptions.autoRead, value: wanted).whenFailure { _ in }
    }

    /// Something happened (input, a reply after a check, replies drained):
    /// the deadlines start from the session's state now.
    func restartTimer(context: ChannelHandlerContext) {
        noteActivity(context: context)
        armTimeout(context: context)
    }

    private func noteActivity(context: ChannelHandlerContext) {
        let partialLine = decoder.mode == .command && (input.readableBytes > 0 || decoder.isDiscardingLine)
        let content = session.isReceivingMessage || session.transaction?.usedChunking == true
        deadlines.activity(at: context.eventLoop.now, partialLine: partialLine, receivingContent: content)
    }

    /// RFC 5321 §4.5.3.2: 5 minutes for a command, 3 for data blocks; plus
    /// the deadlines of `SessionDeadlines`, all shortened under stress.
    func armTimeout(context: ChannelHandlerContext) {
        guard !closing else { return timeout.cancel() }
        let timers = SessionDeadlines.Timers(limits: server.limits, stressed: server.connections.isStressed)
        let (deadline, expiry) = deadlines.next(timers: timers, contentOctets: session.transaction?.receivedSize ?? 0)
        timeout.move(to: deadline, reason: expiry) { scheduleTimeout(at: $0, context: context) }
    }

    private func scheduleTimeout(at deadline: NIODeadline, context: ChannelHandlerContext) -> Scheduled<Void> {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        return context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            // Paused (a check or commit in flight): no deadline until it is answered.
            guard !handler.paused else { return handler.timeout.cancel() }
            guard let expiry = handler.timeout.fired(now: context.eventLoop.now, schedule: { handler.scheduleTimeout(at: $0, context: context) })
            else { return }
            handler.logger.info("timeout", metadata: ["expired": "\(expiry)"])
            handler.perform(handler.session.timedOut(expiry), context: context)
        }
    }
}
