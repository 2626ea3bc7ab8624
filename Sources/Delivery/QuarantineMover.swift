import Dispatch
import Foundation
import Logging
import MailQueue
import Synchronization

/// Takes quarantined messages out of the queue into the quarantine Maildir,
/// and at an operator's word back into the queue or away.
///
/// A quarantined message is committed to the queue like any other (the
/// client has its 250 by then); the mover copies it into the Maildir
/// durably and only then removes the queue entry, so a crash at any moment
/// leaves it in the queue, in the Maildir, or — between the two steps — in
/// both, which the next move notices (the file is found by its queue ID)
/// and ends by removing the queue entry. Everything runs on one serial
/// queue, so a move, a release and a delete never overlap.
/// Why a user's release or deletion did nothing.
public enum QuarantineActionError: Error, CustomStringConvertible {
    case gone(QueueID)
    case notFor(QueueID)

    public var description: String {
        switch self {
        case .gone(let id): return "\(id) is no longer in the quarantine"
        case .notFor(let id): return "\(id) holds none of these recipients (released or deleted already)"
        }
    }
}

public final class QuarantineMover: Sendable {
    public struct Report: Sendable, Equatable {
        /// Quarantine IDs acted on.
        public var done: [String] = []
        /// One line per release: which queue ID the message has now.
        public var notes: [String] = []
        public var skipped: [QueueControl.Skip] = []
    }

    public let maildir: QuarantineMaildir
    let queue: MailQueue
    /// Nil when delivery is off: released messages then stay queued.
    let agent: DeliveryAgent?
    let logger: Logger
    /// How long a move that failed (a full disk) waits before it is tried again.
    let retryDelay: Double
    private let work = DispatchQueue(label: "postern.quarantine")
    private let stopped = Mutex(false)

    public init(maildir: QuarantineMaildir, queue: MailQueue, agent: DeliveryAgent?, logger: Logger,
                retryDelay: Double = 60) {
        self.maildir = maildir
        self.queue = queue
        self.agent = agent
        self.logger = logger
        self.retryDelay = retryDelay
    }

    /// A quarantined message was committed: move it (soon, not on the caller's thread).
    public func move(_ id: QueueID) {
        work.async { self.moveNow(id) }
    }

    /// At start: makes the Maildir, clears what a move left half-written,
    /// and moves the messages a crash (or an older version) left in the
    /// queue in state quarantine.
    public func recover() throws {
        try maildir.create()
        try work.sync {
            try maildir.removeUnfinished()
            try maildir.removeSuperseded()
            try finishReleases()
        }
        let waiting = try queue.envelopes().filter { $0.state == .quarantine }
        if !waiting.isEmpty { logger.info("quarantined messages still queued", metadata: ["count": "\(waiting.count)"]) }
        for envelope in waiting { move(envelope.id) }
    }

    /// Finishes the move under way and starts no other (graceful shutdown).
    public func stop() {
        stopped.withLock { $0 = true }
        work.sync {}
    }

    /// Waits for the moves asked for so far (tests).
    public func drain() {
        work.sync {}
    }

    private func moveNow(_ id: QueueID) {
        guard !stopped.withLock({ $0 }) else { return }
        // Claimed like an operator's command, so `queue release|delete` of
        // the same message cannot change it half way.
        let scheduler = agent?.scheduler
        guard scheduler?.claim(id) ?? true else {
            retry(id, after: 1)
            return
        }
        var giveBack: Date?
        defer { scheduler?.finish(id, nextAttempt: giveBack) }
        // Gone or no longer quarantined: the operator got there first.
        guard let envelope = try? queue.envelope(id: id) else { return }
        guard envelope.state == .quarantine else {
            giveBack = envelope.state.awaitsDelivery ? envelope.nextAttempt ?? Date() : nil
            return
        }
        do {
            let result = try maildir.store(QuarantineRecord(envelope: envelope), addedHeaders: envelope.addedHeaders,
                                           body: queue.body(of: envelope))
            try queue.remove(id)
            switch result {
            case .stored(let entry):
                QuarantineMetrics.count(.quarantined)
                logger.info("moved to the quarantine", metadata: [
                    "id": "\(id)", "file": "\(entry.path)", "reason": "\(envelope.quarantineReason ?? "-")",
                ])
            case .alreadyThere(let entry):
                logger.notice("already in the quarantine, queue entry removed",
                              metadata: ["id": "\(id)", "file": "\(entry.path)"])
            }
        } catch {
            logger.error("cannot move to the quarantine; the message stays queued", metadata: [
                "id": "\(id)", "error": "\(error)", "retry_in": "\(Int(retryDelay))s",
            ])
            retry(id, after: retryDelay)
        }
    }

    private func retry(_ id: QueueID, after seconds: Double) {
        work.asyncAfter(deadline: .now() + seconds) { self.moveNow(id) }
    }

    /// Puts each message back into the queue as a fresh message, for its
    /// recipients and from its sender, without the fields quarantining
    /// added; the Maildir file goes only once the queue commit is durable.
    public func release(_ ids: [String]) async -> Report {
        await onWorkQueue { self.each(ids, self.releaseNow) }
    }

    /// Removes each message from the Maildir for good.
    public func delete(_ ids: [String]) async -> Report {
        await onWorkQueue { self.each(ids, self.deleteNow) }
    }

    private func onWorkQueue(_ body: @escaping @Sendable () -> Report) async -> Report {
        await withCheckedContinuation { continuation in
            work.async { continuation.resume(returning: body()) }
        }
    }

    /// Runs `action` for each named message; it returns a note, or throws
    /// why it could not act.
    private func each(_ ids: [String], _ action: (QuarantineMaildir.Entry) throws -> String?) -> Report {
        var report = Report()
        for text in ids {
            guard let id = QueueID(text) else {
                report.skipped.append(.init(id: text, reason: "not a quarantine ID"))
                continue
            }
            do {
                guard let entry = try maildir.entry(id: id) else {
                    report.skipped.append(.init(id: text, reason: "no such message in the quarantine"))
                    continue
                }
                if let note = try action(entry) { report.notes.append(note) }
                report.done.append(text)
            } catch {
                report.skipped.append(.init(id: text, reason: "\(error)"))
            }
        }
        return report
    }

    private func releaseNow(_ entry: QuarantineMaildir.Entry) throws -> String? {
        try releaseNow(entry, only: nil, user: nil)
    }

    /// A user's release (IMAP COPY/MOVE to Release): only `recipients`,
    /// which must still be in the record; the others stay held.
    public func release(_ id: QueueID, recipients: [String], user: String) async throws {
        try await onWorkQueue { () throws in
            guard let entry = try self.maildir.entry(id: id) else { throw QuarantineActionError.gone(id) }
            _ = try self.releaseNow(entry, only: recipients, user: user)
        }
    }

    /// A user's deletion (IMAP EXPUNGE, POP3 DELE): the recipients leave
    /// the record; the file goes with the last of them.
    public func drop(_ id: QueueID, recipients: [String], user: String) async throws {
        try await onWorkQueue { () throws in
            guard let entry = try self.maildir.entry(id: id) else { throw QuarantineActionError.gone(id) }
            let (record, offset) = try self.maildir.read(entry)
            let dropped = record.recipients.filter(recipients.contains)
            guard !dropped.isEmpty else { throw QuarantineActionError.notFor(id) }
            try self.shrink(entry, record: record, offset: offset, removing: dropped)
            QuarantineMetrics.count(.deleted)
            self.logger.info("deleted from the quarantine", metadata: [
                "quarantine_id": "\(id)", "user": "\(user)", "nrcpt": "\(dropped.count)",
                "kept": "\(record.recipients.count - dropped.count)",
            ])
        }
    }

    private func onWorkQueue(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            work.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Takes `removing` out of the record: the file is rewritten with the
    /// rest, or removed when none remain.
    private func shrink(_ entry: QuarantineMaildir.Entry, record: QuarantineRecord, offset: Int,
                        removing: [String]) throws {
        let kept = record.keeping { !removing.contains($0) }
        if kept.recipients.isEmpty {
            try maildir.remove(entry)
        } else {
            _ = try maildir.rewrite(entry, record: kept, messageOffset: offset)
        }
    }

    /// Queues the message again for `only` of its recipients (nil: all),
    /// then takes them out of the quarantine. The queue entry names the
    /// quarantine ID, so a crash between the two steps is finished by
    /// `recover` instead of releasing twice.
    private func releaseNow(_ entry: QuarantineMaildir.Entry, only: [String]?, user: String?) throws -> String? {
        let (record, offset) = try maildir.read(entry)
        let released = record.keeping { only?.contains($0) ?? true }
        let recipients = released.recipients
        guard !recipients.isEmpty else { throw QuarantineActionError.notFor(entry.id) }
        let spool = queue.makeSpool()
        do {
            try maildir.forEachBlock(of: entry, from: offset) { spool.append($0) }
        } catch {
            spool.discard()
            throw error
        }
        var envelope = Envelope(
            id: spool.id, sender: record.sender,
            recipients: recipients.indices.map { Envelope.Recipient(address: recipients[$0], dsn: released.parameters(at: $0)) },
            size: spool.size, clientAddress: record.clientAddress, clientHelo: record.clientHelo,
            receivedProtocol: record.receivedProtocol, eightBitMIME: record.eightBitMIME, smtpUTF8: record.smtpUTF8)
        envelope.releasedFrom = entry.id
        // RFC 3461: the sender's DSN requests outlive the quarantine.
        envelope.dsnReturn = record.dsnReturn
        envelope.envelopeID = record.envelopeID
        let outcome = Mutex<Result<Void, QueueIOError>?>(nil)
        let committed = DispatchSemaphore(value: 0)
        queue.commit(spool, envelope: envelope) { result in
            outcome.withLock { $0 = result }
            committed.signal()
        }
        committed.wait()
        try outcome.withLock { $0 }?.get()
        QuarantineMetrics.count(.released)
        var metadata: Logger.Metadata = [
            "quarantine_id": "\(entry.id)", "id": "\(envelope.id)", "from": "<\(envelope.sender)>",
            "nrcpt": "\(envelope.recipients.count)",
        ]
        if let user { metadata["user"] = "\(user)" }
        logger.info("released from the quarantine", metadata: metadata)
        do {
            try shrink(entry, record: record, offset: offset, removing: recipients)
        } catch {
            // Queued already; `recover` finishes this at the next start.
            logger.error("released, but the quarantine file could not be updated", metadata: [
                "quarantine_id": "\(entry.id)", "file": "\(entry.path)", "error": "\(error)",
            ])
        }
        agent?.enqueue(envelope.id)
        return "\(entry.id): released as queue ID \(envelope.id)"
    }

    /// Releases whose quarantine update a crash cut off: the queue entry is
    /// there (it is not delivered before `recover` runs), so its recipients
    /// leave the quarantine file now.
    private func finishReleases() throws {
        for envelope in try queue.envelopes() {
            guard let origin = envelope.releasedFrom, let entry = try maildir.entry(id: origin) else { continue }
            let (record, offset) = try maildir.read(entry)
            let released = envelope.recipients.map(\.address).filter(record.recipients.contains)
            guard !released.isEmpty else { continue }
            try shrink(entry, record: record, offset: offset, removing: released)
            logger.notice("finished a release cut short", metadata: [
                "quarantine_id": "\(origin)", "id": "\(envelope.id)", "nrcpt": "\(released.count)",
            ])
        }
    }

    private func deleteNow(_ entry: QuarantineMaildir.Entry) throws -> String? {
        try maildir.remove(entry)
        QuarantineMetrics.count(.deleted)
        logger.info("deleted from the quarantine", metadata: ["quarantine_id": "\(entry.id)"])
        return nil
    }
}
