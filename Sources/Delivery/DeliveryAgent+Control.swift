import Foundation
import MailQueue
import SMTPCore

extension DeliveryAgent {
    /// The run loop looks at the schedule again (an operator changed it).
    func wake() {
        wakeup.signal()
    }

    /// `queue bounce`: every undelivered recipient fails now and the sender
    /// gets a DSN (RFC 3464); the message leaves the queue. False if it
    /// could not be removed.
    func returnToSender(_ envelope: Envelope) -> Bool {
        var envelope = envelope
        let reason = DeliveryReason.local(EnhancedStatusCode(5, 0, 0), "returned to the sender by the mail administrator",
                                          stage: .connect)
        let failed = envelope.recipients.indices.filter { envelope.recipients[$0].status.isUndelivered }
        for index in failed {
            envelope.recipients[index].status = .failed
            envelope.recipients[index].lastReply = reason.description
        }
        // The DSN quotes the message's header, so it is made before the files go
        // (as a failed delivery does); a crash in between repeats the DSN, never loses it.
        if !failed.isEmpty {
            bounce(envelope, kind: .failure, recipients: failed.map { (index: $0, reason: reason, remote: nil) }, willRetryUntil: nil)
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
