import Foundation
import Logging
import MailQueue
import SMTPCore

/// What an operator does to queued messages (`postern queue flush|hold|…`
/// over the control socket). Each message is claimed from the scheduler
/// first, so a delivery worker and a command never change one envelope at
/// the same time; a message being delivered right now is skipped with a
/// reason rather than waited for.
public final class QueueControl: Sendable {
    public enum Operation: String, Sendable, CaseIterable {
        case flush, hold, release, delete, bounce, requeue
    }

    public enum Selection: Sendable, Equatable {
        case ids([QueueID])
        case all
        /// Messages with an undelivered recipient in the domain.
        case domain(String)
    }

    public struct Report: Sendable, Equatable {
        public var done: [QueueID] = []
        public var skipped: [Skip] = []
    }

    public struct Skip: Sendable, Equatable {
        public var id: String
        public var reason: String
    }

    let queue: MailQueue
    /// Nil when delivery is off: then nothing is flushed or bounced.
    let agent: DeliveryAgent?
    let logger: Logger

    public init(queue: MailQueue, agent: DeliveryAgent?, logger: Logger) {
        self.queue = queue
        self.agent = agent
        self.logger = logger
    }

    public func perform(_ operation: Operation, on selection: Selection) async -> Report {
        // "Try now" includes destinations marked dead (Postfix's flush wakes them too).
        if operation == .flush || operation == .requeue, let agent { await agent.limiter.endCoolDowns() }
        var report = Report()
        for id in targets(selection) {
            guard agent?.scheduler.claim(id) ?? true else {
                report.skipped.append(Skip(id: id.description, reason: "being delivered right now; try again in a moment"))
                continue
            }
            // Read only once claimed: a worker may have changed or removed it
            // since the selection was made, and its copy is the one to act on.
            guard let envelope = try? queue.envelope(id: id), selection.stillSelects(envelope) else {
                agent?.scheduler.finish(id, nextAttempt: nil)
                if case .ids = selection {
                    report.skipped.append(Skip(id: id.description, reason: "no such message in the queue"))
                }
                continue
            }
            let result = await apply(operation, to: envelope)
            agent?.scheduler.finish(id, nextAttempt: result.nextAttempt)
            if let reason = result.skipped {
                report.skipped.append(Skip(id: id.description, reason: reason))
            } else {
                report.done.append(id)
                logger.info("\(operation.rawValue) by the operator", metadata: ["id": "\(id)"])
            }
        }
        agent?.wake()
        return report
    }

    /// The queue IDs the selection names now (envelopes are read again once claimed).
    private func targets(_ selection: Selection) -> [QueueID] {
        switch selection {
        case .ids(let ids):
            return ids
        case .all, .domain:
            return ((try? queue.envelopes()) ?? []).filter(selection.stillSelects).map(\.id)
        }
    }

    private struct Result {
        /// Why nothing was done; nil when it was.
        var skipped: String?
        /// When the scheduler should try the message next; nil: not at all.
        var nextAttempt: Date?
    }

    private func apply(_ operation: Operation, to envelope: Envelope) async -> Result {
        let waiting = envelope.state.awaitsDelivery
        let keep = waiting ? envelope.nextAttempt ?? Date() : nil
        var changed = envelope
        switch operation {
        case .flush:
            guard waiting else { return Result(skipped: "\(envelope.state.rawValue): release it first", nextAttempt: keep) }
            guard agent != nil else { return Result(skipped: "delivery is off", nextAttempt: keep) }
            return Result(nextAttempt: Date())
        case .hold:
            guard waiting else { return Result(skipped: "already \(envelope.state.rawValue)", nextAttempt: keep) }
            changed.state = .hold
            return save(changed, next: nil, otherwise: keep)
        case .release:
            guard !waiting else { return Result(skipped: "not held", nextAttempt: keep) }
            changed.state = .ready
            changed.nextAttempt = nil
            return save(changed, next: Date(), otherwise: nil)
        case .requeue:
            guard waiting else { return Result(skipped: "\(envelope.state.rawValue): release it first", nextAttempt: keep) }
            for index in changed.recipients.indices where changed.recipients[index].status == .deferred {
                changed.recipients[index].status = .pending
            }
            changed.state = .ready
            changed.nextAttempt = nil
            return save(changed, next: Date(), otherwise: keep)
        case .delete:
            do {
                try queue.remove(envelope.id)
                return Result()
            } catch {
                return Result(skipped: "cannot delete: \(error)", nextAttempt: keep)
            }
        case .bounce:
            guard let agent else { return Result(skipped: "delivery is off: no DSN can be sent", nextAttempt: keep) }
            return await agent.returnToSender(envelope) ? Result()
                : Result(skipped: "the DSN could not be queued, or the message not removed", nextAttempt: keep)
        }
    }

    private func save(_ envelope: Envelope, next: Date?, otherwise: Date?) -> Result {
        do {
            try queue.update(envelope)
            return Result(nextAttempt: next)
        } catch {
            return Result(skipped: "cannot update the envelope: \(error)", nextAttempt: otherwise)
        }
    }
}

extension QueueControl.Selection {
    /// Whether `envelope` (read after the claim) still belongs to the selection.
    func stillSelects(_ envelope: Envelope) -> Bool {
        guard case .domain(let domain) = self else { return true }
        let wanted = domain.lowercased()
        return envelope.recipients.contains { $0.status.isUndelivered && $0.domain == wanted }
    }
}
