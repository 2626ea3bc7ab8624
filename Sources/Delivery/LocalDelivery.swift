import Dispatch
import MailQueue
import SMTPCore
#if canImport(Glibc)
import Glibc
#endif

/// Final delivery into local Maildirs, for a domain routed to
/// `maildir:/path/template` (see `MaildirRoute`).
///
/// Each recipient gets its own file in its own Maildir: `Return-Path:
/// <sender>` (RFC 5321 §4.4: the final delivery adds it), `Delivered-To:
/// <recipient>`, then the message exactly as an SMTP next hop would get it
/// (the envelope's added fields, then the queued body from its offset),
/// put in by `Maildir.deliver`: tmp/, fsync, new/, fsync of new/. Only
/// then does the recipient count as delivered.
///
/// The queue learns the outcomes when the whole attempt ends. A crash in
/// between delivers those recipients again after the restart: a duplicate,
/// never a loss, as with Postfix's local(8).
struct LocalDelivery: Sendable {
    /// The host part of file names (`Maildir.nameSafe`).
    let hostname: String
    let body: QueuedBody

    init(hostname: String, body: QueuedBody) {
        self.hostname = Maildir.nameSafe(hostname: hostname)
        self.body = body
    }

    /// Delivers to the recipients at `indices`, one after the other. Blocks
    /// (writes and fsyncs): never call it on an event loop.
    func deliver(_ envelope: Envelope, indices: [Int], domain: String, route: MaildirRoute) -> [DomainAttempt.Result] {
        if let why = OutboundMessage.invalidAddressReason(envelope.sender) {
            let reason = DeliveryReason.local(EnhancedStatusCode(5, 1, 7), "bad sender address: \(why)", stage: .localDelivery)
            return indices.map { ($0, .failed(reason), nil) }
        }
        return indices.map { index in
            let recipient = envelope.recipients[index].address
            let directory: String
            do {
                directory = try route.expand(recipient, domain: domain)
            } catch {
                return (index, .failed(.local(EnhancedStatusCode(5, 1, 3), "bad address for \(route): \(error)",
                                              stage: .localDelivery)), nil)
            }
            return (index, deliver(envelope, to: recipient, in: Maildir(directory: directory)), .maildir(directory))
        }
    }

    private func deliver(_ envelope: Envelope, to recipient: String, in maildir: Maildir) -> RecipientOutcome {
        let head = Self.head(sender: envelope.sender, recipient: recipient, addedHeaders: envelope.addedHeaders)
        let size = head.count + envelope.size - envelope.bodyOffset
        let name = Maildir.uniqueName(size: size, hostname: hostname)
        do {
            try maildir.create()
            _ = try maildir.deliver(name: name, head: head, body: body)
        } catch {
            return Self.outcome(for: error, bodyPath: body.path)
        }
        return .delivered(SMTPReply(code: 250, enhanced: .success, text: "delivered to maildir as new/\(name)"))
    }

    /// The fields final delivery puts on top, then the envelope's added fields.
    static func head(sender: String, recipient: String, addedHeaders: [String]) -> [UInt8] {
        Array("Return-Path: <\(sender)>\r\nDelivered-To: \(recipient)\r\n\(addedHeaders.joined())".utf8)
    }

    /// Every failure to write is temporary, as a 4xx: a full disk or a
    /// quota may clear, and a path that cannot be made (not a directory,
    /// no permission, read-only) is for the operator to fix while the
    /// message waits (RFC 3463 codes: 4.3.1 system full, 4.2.2 mailbox
    /// full, 4.2.0 mailbox unavailable, 4.3.0 for I/O and queue errors).
    static func outcome(for error: QueueIOError, bodyPath: String) -> RecipientOutcome {
        let code: EnhancedStatusCode
        switch error.errno {
        case _ where error.path == bodyPath: code = EnhancedStatusCode(4, 3, 0)
        case ENOSPC: code = EnhancedStatusCode(4, 3, 1)
        case EDQUOT: code = EnhancedStatusCode(4, 2, 2)
        case EIO: code = EnhancedStatusCode(4, 3, 0)
        default: code = EnhancedStatusCode(4, 2, 0)
        }
        return .deferred(.local(code, "cannot deliver to maildir: \(error)", stage: .localDelivery))
    }
}

extension DeliveryAgent {
    /// Where local deliveries block on the disk: never an event loop.
    /// As many run at once as `[delivery] workers` slots allow.
    private static let localWork = DispatchQueue(label: "postern.maildir", attributes: .concurrent)

    /// One domain's recipients into their Maildirs, holding one worker slot.
    func deliverLocally(_ envelope: Envelope, indices: [Int], domain: String, route: MaildirRoute) async -> DomainAttempt {
        guard await sessions.acquire() else { return .stopped(indices) }
        let started = DispatchTime.now().uptimeNanoseconds
        let local = LocalDelivery(hostname: configuration.hostname, body: queue.body(of: envelope))
        let results = await withCheckedContinuation { continuation in
            Self.localWork.async {
                continuation.resume(returning: local.deliver(envelope, indices: indices, domain: domain, route: route))
            }
        }
        await sessions.release()
        DeliveryMetrics.duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        return DomainAttempt(results: results)
    }
}
