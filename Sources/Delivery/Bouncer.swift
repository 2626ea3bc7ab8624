import Foundation
import MailMessage
import MailQueue
import SMTPCore

/// A recipient a success DSN reports on (RFC 3461 §6.2.2): delivered into
/// a Maildir here, or relayed to a next hop that does not report itself.
struct SuccessNotice: Sendable {
    var index: Int
    var action: RecipientReport.Action
    /// The next hop's (or the Maildir's) reply.
    var reply: SMTPReply
    /// The SMTP server that took it; nil for a Maildir.
    var remoteMTA: String?
}

extension DeliveryAgent {
    /// Queues an RFC 3464 report to the envelope sender, from `<>`, like any
    /// other message. Never for the null sender (RFC 5321 §4.5.5: a bounce is
    /// not bounced), and only for recipients whose NOTIFY asks for it
    /// (RFC 3461 §4.1: NEVER, or a list without FAILURE or DELAY, silences it).
    /// `committed` says whether the report is durably queued (true also when
    /// none is due).
    func bounce(_ envelope: Envelope, kind: DeliveryStatusNotification.Kind,
                recipients: [(index: Int, reason: DeliveryReason, remote: String?)], willRetryUntil: Date?,
                committed: @escaping @Sendable (Bool) -> Void = { _ in }) {
        let now = Date()
        let condition: DSNNotify = kind == .delay ? .delay : .failure
        let wanted = recipients.filter { envelope.recipients[$0.index].dsn.wantsNotice(condition) }
        guard !wanted.isEmpty else {
            logger.info("no DSN: NOTIFY does not ask for one", metadata: ["id": "\(envelope.id)", "kind": "\(kind)"])
            committed(true)
            return
        }
        let reports = wanted.map { item in
            RecipientReport(finalRecipient: envelope.recipients[item.index].address,
                            originalRecipient: envelope.recipients[item.index].dsn.originalRecipient?.description,
                            action: kind == .delay ? .delayed : .failed, status: item.reason.statusCode.description,
                            remoteMTA: item.remote, diagnostic: Self.diagnostic(item.reason), lastAttemptDate: now,
                            willRetryUntil: willRetryUntil)
        }
        queueReport(about: envelope, kind: kind, reports: reports, now: now, committed: committed)
    }

    /// Queues a success report for the recipients that asked for one with
    /// NOTIFY=SUCCESS and whose delivery no next hop will report on.
    func reportSuccess(_ envelope: Envelope, notices: [SuccessNotice]) {
        let wanted = notices.filter { envelope.recipients[$0.index].dsn.wantsNotice(.success) }
        guard !wanted.isEmpty else { return }
        let now = Date()
        let reports = wanted.map { notice in
            RecipientReport(finalRecipient: envelope.recipients[notice.index].address,
                            originalRecipient: envelope.recipients[notice.index].dsn.originalRecipient?.description,
                            action: notice.action, status: (notice.reply.enhanced ?? EnhancedStatusCode(2, 0, 0)).description,
                            remoteMTA: notice.remoteMTA,
                            diagnostic: notice.remoteMTA == nil ? nil : Self.diagnostic(notice.reply), lastAttemptDate: now)
        }
        queueReport(about: envelope, kind: .success, reports: reports, now: now) { _ in }
    }

    /// Renders the report (with the header section, or the whole message
    /// for a failure under RET=FULL) and commits it to the queue.
    private func queueReport(about envelope: Envelope, kind: DeliveryStatusNotification.Kind, reports: [RecipientReport],
                             now: Date, committed: @escaping @Sendable (Bool) -> Void) {
        guard var report = DeliveryStatusNotification(kind: kind, reportingMTA: configuration.hostname,
                                                      originalSender: envelope.sender, arrivalDate: envelope.created,
                                                      recipients: reports, originalEnvelopeID: envelope.envelopeID,
                                                      queueID: envelope.id.description) else {
            logger.info("no DSN for the null sender", metadata: ["id": "\(envelope.id)"])
            committed(true)
            return
        }
        switch kind {
        case .failure: DeliveryMetrics.failureBounces.increment()
        case .delay: DeliveryMetrics.delayBounces.increment()
        case .success: DeliveryMetrics.successReports.increment()
        }
        var limit = report.maxOriginalHeaderBytes
        if envelope.dsnReturn == .full {
            report.returnedContent = .fullMessage
            // One octet more than may go back shows a message that is too large.
            limit = max(limit, report.maxReturnedMessageBytes + 1)
        }
        let original = (try? QueueReader(directory: queue.directory).message(envelope, limit: limit)) ?? []
        let spool = queue.makeSpool()
        // A locally made message still gets its trace line (RFC 5321 §4.4).
        spool.append("Received: by \(configuration.hostname) (Postern) id \(spool.id); \(MessageDate.string(from: now))\r\n")
        spool.append(report.render(originalMessage: original, now: now))
        let dsn = Envelope(id: spool.id, sender: "", recipients: [.init(address: envelope.sender)], size: spool.size,
                           clientAddress: "127.0.0.1", clientHelo: configuration.hostname, receivedProtocol: "local",
                           eightBitMIME: envelope.eightBitMIME, smtpUTF8: envelope.smtpUTF8)
        let logger = self.logger
        queue.commit(spool, envelope: dsn) { [self] result in
            switch result {
            case .success:
                logger.info("DSN queued", metadata: ["id": "\(dsn.id)", "about": "\(envelope.id)", "kind": "\(kind)",
                                                     "to": "<\(envelope.sender)>"])
                self.enqueue(dsn.id)
                committed(true)
            case .failure(let error):
                logger.error("cannot queue DSN", metadata: ["about": "\(envelope.id)", "error": "\(error)"])
                committed(false)
            }
        }
    }

    /// The remote reply ("smtp; 550 5.1.1 …") or our own finding.
    static func diagnostic(_ reason: DeliveryReason) -> RecipientReport.Diagnostic {
        switch reason {
        case .reply(let reply, _):
            return diagnostic(reply)
        case .local(_, let text, _):
            return RecipientReport.Diagnostic(type: "X-Postern", text: text)
        }
    }

    /// A reply as a Diagnostic-Code: "250 2.0.0 OK queued as 12".
    static func diagnostic(_ reply: SMTPReply) -> RecipientReport.Diagnostic {
        let text = reply.lines.joined(separator: " ")
        return .smtp("\(reply.code) \(reply.enhanced.map { "\($0) " } ?? "")\(text)")
    }
}
