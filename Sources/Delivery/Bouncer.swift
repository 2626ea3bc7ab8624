import Foundation
import MailMessage
import MailQueue
import SMTPCore

extension DeliveryAgent {
    /// Queues an RFC 3464 report to the envelope sender, from `<>`, like any
    /// other message. Never for the null sender (RFC 5321 §4.5.5: a bounce is
    /// not bounced).
    /// `committed` says whether the report is durably queued (true also when
    /// none is due, for the null sender).
    func bounce(_ envelope: Envelope, kind: DeliveryStatusNotification.Kind,
                recipients: [(index: Int, reason: DeliveryReason, remote: String?)], willRetryUntil: Date?,
                committed: @escaping @Sendable (Bool) -> Void = { _ in }) {
        let now = Date()
        (kind == .delay ? DeliveryMetrics.delayBounces : DeliveryMetrics.failureBounces).increment()
        let reports = recipients.map { item in
            RecipientReport(finalRecipient: envelope.recipients[item.index].address,
                            action: kind == .delay ? .delayed : .failed, status: item.reason.statusCode.description,
                            remoteMTA: item.remote, diagnostic: Self.diagnostic(item.reason), lastAttemptDate: now,
                            willRetryUntil: willRetryUntil)
        }
        guard let report = DeliveryStatusNotification(kind: kind, reportingMTA: configuration.hostname,
                                                      originalSender: envelope.sender, arrivalDate: envelope.created,
                                                      recipients: reports, queueID: envelope.id.description) else {
            logger.info("no DSN for the null sender", metadata: ["id": "\(envelope.id)"])
            committed(true)
            return
        }
        let original = (try? QueueReader(directory: queue.directory).message(envelope, limit: 64 * 1024)) ?? []
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
            let text = reply.lines.joined(separator: " ")
            return .smtp("\(reply.code) \(reply.enhanced.map { "\($0) " } ?? "")\(text)")
        case .local(_, let text, _):
            return RecipientReport.Diagnostic(type: "X-Postern", text: text)
        }
    }
}
