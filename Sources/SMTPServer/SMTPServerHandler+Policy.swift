import Logging
import MailMessage
import MailQueue
import NIOCore
import Policy
import SMTPCore

/// The policy pipeline's hooks in the session: a phase whose filters all
/// answer without I/O runs right here on the event loop; otherwise the
/// check pauses input, runs the filters off the event loop, and answers
/// in order.
extension SMTPServerHandler {
    /// Continues with `inline` when the pipeline could answer on the event
    /// loop; otherwise runs `work` (the filters, which may wait on DNS) and
    /// continues on the event loop with its result, input buffered
    /// meanwhile. `abandoned` runs instead of `then` when the session was
    /// closed meanwhile (to free what the check held).
    func check<T: Sendable>(context: ChannelHandlerContext, inline: T? = nil,
                            _ work: @escaping @Sendable () async -> T,
                            abandoned: (() -> Void)? = nil,
                            then: @escaping (SMTPServerHandler, ChannelHandlerContext, T) -> Void) {
        if let inline { return then(self, context, inline) }
        pause(context: context)
        let loopBound = NIOLoopBound((self, context, then, abandoned), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask(work).whenSuccess { result in
            let (handler, context, then, abandoned) = loopBound.value
            handler.unpause(context: context)
            guard !handler.closing else {
                abandoned?()
                return
            }
            then(handler, context, result)
            handler.resume(context: context)
        }
    }

    func checkHELO(_ reply: SMTPReply, context: ChannelHandlerContext) {
        let pipeline = server.policy.pipeline
        guard pipeline.checks(.helo) else { return write(reply, context: context) }
        let facts = self.facts
        check(context: context, inline: pipeline.heloInline(facts), { await pipeline.helo(facts) }) { handler, context, outcome in
            if let refusal = outcome.refusal {
                handler.logRefusal(outcome, phase: "helo")
                handler.write(handler.session.heloRefused(refusal), context: context)
            } else {
                handler.write(reply, context: context)
            }
        }
    }

    func checkSender(_ transaction: Transaction, context: ChannelHandlerContext) {
        let pipeline = server.policy.pipeline
        resetTransactionPolicy()
        guard pipeline.checks(.mail) else {
            return write(session.senderChecked(transaction, refusal: nil), context: context)
        }
        let facts = self.facts
        let message = MessageFacts(sender: transaction.sender, parameters: transaction.parameters)
        check(context: context, inline: pipeline.mailInline(facts, message), { await pipeline.mail(facts, message) }) { handler, context, outcome in
            if outcome.refusal != nil { handler.logRefusal(outcome, phase: "mail", detail: "\(transaction.sender)") }
            else { handler.absorb(outcome) }
            handler.write(handler.session.senderChecked(transaction, refusal: outcome.refusal), context: context)
        }
    }

    func checkRecipient(_ recipient: ForwardPath, context: ChannelHandlerContext) {
        let pipeline = server.policy.pipeline
        guard pipeline.checks(.rcpt), let transaction = session.transaction else {
            return perform(session.recipientChecked(recipient, refusal: nil), context: context)
        }
        let facts = self.facts
        let message = MessageFacts(sender: transaction.sender, parameters: transaction.parameters,
                                   recipients: transaction.recipients)
        check(context: context, inline: pipeline.rcptInline(facts, message, recipient: recipient),
              { await pipeline.rcpt(facts, message, recipient: recipient) }) { handler, context, outcome in
            if outcome.refusal != nil { handler.logRefusal(outcome, phase: "rcpt", detail: "\(recipient)") }
            else { handler.absorb(outcome) }
            handler.perform(handler.session.recipientChecked(recipient, refusal: outcome.refusal), context: context)
        }
    }

    /// The end of DATA: the content filters, then the queue.
    func checkMessage(_ transaction: Transaction, context: ChannelHandlerContext) {
        guard var writer = body else {
            write(session.commitFailed(), context: context)
            return
        }
        body = nil
        let spool = writer.finish()
        spool.contentIsPlain = writer.isPlain
        // Complete: other commits need not wait for it while it is checked.
        spool.arrived()
        let pipeline = server.policy.pipeline
        if writer.headerOverflow && (server.policy.rewriter != nil || pipeline.checks(.headers)) {
            // Rules the operator relies on (e.g. removing spoofable headers)
            // cannot be applied to a header section this large: refuse it.
            spool.discard()
            resetTransactionPolicy()
            let reply = SMTPReply(code: 552, enhanced: EnhancedStatusCode(5, 3, 4),
                                  text: "Header section too large (over \(server.limits.maxHeaderBytes) octets)")
            logger.notice("message refused", metadata: ["reply": "\(reply)"])
            SMTPServerMetrics.countRefusal(reply, phase: "data", filter: "smtp")
            return write(session.commitRefused(reply), context: context)
        }
        let dkim = server.policy.dkim
        guard pipeline.checks(.headers) || pipeline.checks(.content) || dkim != nil else {
            return commit(transaction, spool: spool, context: context)
        }
        let facts = self.facts
        let message = MessageFacts(sender: transaction.sender, parameters: transaction.parameters,
                                   recipients: transaction.recipients, spf: transactionSPF)
        let headers = writer.headers
        let writtenHeader = writer.writtenHeader
        let logger = self.logger
        // Reading the spool may wait for its last blocks to reach the disk:
        // done in the task, off the event loop.
        check(context: context, { () async -> CheckedMessage? in
            var content: ReceivedContent
            let readable: (bytes: [UInt8]?, path: String?)
            do {
                readable = try await spool.contentForReading()
                content = readable.bytes.map { ReceivedContent(bytes: $0) }
                    ?? ReceivedContent(path: readable.path ?? "", size: spool.size)
            } catch {
                logger.error("cannot read spooled message", metadata: ["error": "\(error)"])
                return nil
            }
            content.id = spool.id.description
            let outcome = await pipeline.data(facts, message, headers: headers, content: content)
            guard outcome.refusal == nil, outcome.discard == nil else { return CheckedMessage(outcome: outcome) }
            // The added fields are final here: sign over them and the spool.
            var late = SMTPServerHandler.lateFields(outcome.headerEdits, writtenHeader: writtenHeader, logger: logger)
            if let dkim { late.sign(with: dkim, content: readable, logger: logger) }
            return CheckedMessage(outcome: outcome, late: late)
        }, abandoned: { spool.discard() }) { handler, context, checked in
            // The client left while the filters ran: no 250 can reach it, so
            // nothing is queued (it will send the message again).
            guard context.channel.isActive else {
                spool.discard()
                return
            }
            guard let checked else {
                spool.discard()
                handler.resetTransactionPolicy()
                handler.write(handler.session.commitFailed(), context: context)
                return
            }
            let outcome = checked.outcome
            if let refusal = outcome.refusal {
                handler.logRefusal(outcome, phase: "data")
                spool.discard()
                handler.resetTransactionPolicy()
                handler.write(handler.session.commitRefused(refusal), context: context)
                return
            }
            handler.scanNotes = outcome.steps.filter { $0.filter == "scan" }.compactMap(\.verdict.note)
            if let reason = outcome.discard {
                handler.discard(spool, reason: reason, context: context)
                return
            }
            handler.absorb(outcome)
            handler.commit(transaction, spool: spool, late: checked.late, context: context)
        }
    }

    /// Header edits decided after the body arrived, as the envelope's added
    /// fields: new fields go ahead of the spooled message; edits inside the
    /// header section (removals) replace its `writtenHeader.count` first
    /// octets with the rewritten section. The body file is never copied.
    static func lateFields(_ edits: [HeaderEdit], writtenHeader: [UInt8]?, logger: Logger) -> LateFields {
        guard !edits.isEmpty else { return LateFields() }
        var fields = edits.prependedFields
        var offset = 0
        let inPlace = edits.inPlace
        if !inPlace.isEmpty {
            if let writtenHeader {
                // Parsed only when a field inside the section is to change.
                let written = HeaderSection(parsing: writtenHeader)
                let edited = HeaderRewriter.apply(inPlace, to: written)
                if edited != written {
                    fields += edited.fields
                    offset = writtenHeader.count
                }
            } else {
                // A header section too large to parse: new fields still go
                // on top (a scanner's verdict must show); edits inside it cannot.
                logger.warning("header edits inside the section skipped: it could not be parsed")
            }
        }
        // Raw 8-bit octets in a rewritten field become U+FFFD here; fields
        // of the client's own are only re-rendered when a removal was asked.
        return LateFields(fields: fields.map { String(decoding: $0.wireBytes, as: UTF8.self) }, bodyOffset: offset)
    }

    /// Keeps what a passing phase decided for the transaction.
    func absorb(_ outcome: PolicyPipeline.Outcome) {
        transactionEdits += outcome.headerEdits
        if quarantineReason == nil { quarantineReason = outcome.quarantine }
        if let spf = outcome.spf { transactionSPF = spf }
    }

    func resetTransactionPolicy() {
        transactionEdits = []
        quarantineReason = nil
        transactionSPF = nil
        scanNotes = []
    }

    /// A filter discarded the message: the client gets the 250 it would
    /// have had (so it does not retry), nothing is queued, the log says why.
    private func discard(_ spool: Spool, reason: String, context: ChannelHandlerContext) {
        spool.discard()
        var metadata: Logger.Metadata = ["id": "\(spool.id)", "reason": "\(reason)"]
        if !scanNotes.isEmpty { metadata["scan"] = "\(scanNotes.joined(separator: " "))" }
        logger.notice("discarded", metadata: metadata)
        SMTPServerMetrics.discarded.increment()
        resetTransactionPolicy()
        write(session.commitSucceeded(queueID: spool.id.description), context: context)
    }

    func logRefusal(_ outcome: PolicyPipeline.Outcome, phase: String, detail: String? = nil) {
        guard let refusal = outcome.refusal else { return }
        SMTPServerMetrics.countRefusal(refusal, phase: phase, filter: outcome.steps.last?.filter ?? "policy")
        var metadata: Logger.Metadata = ["phase": "\(phase)", "reply": "\(refusal)"]
        if let step = outcome.steps.last {
            metadata["filter"] = "\(step.filter)"
            if let note = step.verdict.note { metadata[step.filter == "scan" ? "scan" : "reason"] = "\(note)" }
        }
        if let detail { metadata["address"] = "\(detail)" }
        if let user = session.authenticatedUser { metadata["user"] = "\(user)" }
        logger.notice("policy refused", metadata: metadata)
    }
}
