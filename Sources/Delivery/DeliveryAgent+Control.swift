import Foundation
import MailQueue
import SMTPCore

extension DeliveryAgent {
    /// The run loop looks at the schedule again (an operator changed it).
    func wake() {
        wakeup.signal()
    }

    /// `queue bounce`: every undelivered recipient fails now and the sender
    /// gets a DSN (RFC 3464); the message leaves the queue only once the DSN
    /// is durably queued, so a crash or a full disk never loses both. False
    /// if the DSN could not be queued (the message stays) or the message
    /// could not be removed.
    func returnToSender(_ envelope: Envelope) async -> Bool {
        var envelope = envelope
        let reason = DeliveryReason.local(EnhancedStatusCode(5, 0, 0), "returned to the sender by the mail administrator",
                                          stage: .connect)
        let failed = envelope.recipients.indices.filter { envelope.recipients[$0].status.isUndelivered }
        for index in failed {
            envelope.recipients[index].status = .failed
            envelope.recipients[index].lastReply = reason.description
        }
        if !failed.isEmpty {
            let report = envelope
            let queued = await withCheckedContinuation { continuation in
                bounce(report, kind: .failure, recipients: failed.map { (index: $0, reason: reason, remote: nil) },
                       willRetryUntil: nil) { continuation.resume(returning: $0) }
            }
            guard queued else { return false }
        }
        do {
            try queue.remove(envelope.id)
        } catch {
            logger.error("cannot remove a bounced message", metadata: ["id": "\(envelope.id)", "error": "\(error)"])
            return false
        }
        return true
    }
}
