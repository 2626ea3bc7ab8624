import CPosternSys
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The durable message store (see DESIGN.md "On disk"):
///
///     DIR/incoming/   records being written (purged at start)
///     DIR/msg/        ID.msg: body, envelope and trailer in one file (`MessageRecord`);
///                     ID.env: the envelope after a status change (supersedes
///                     the one in ID.msg); older queues: ID.eml + ID.env pairs
///     DIR/corrupt/    messages that could not be read, set aside
///     DIR/spare/      delivered records kept to be overwritten by new ones
///                     (`SpareFiles`); never read as messages
///     DIR/journal     the commit journal (`CommitJournal`): small records
///                     synced there before their 250, replayed at start
///
/// `commit` promises durability: the completion reports success only after
/// body, envelope and the directory entry are on stable storage. A message
/// costs one file, one rename and (after delivery) one unlink, or for a
/// small one a rename of a spare record in and, after delivery, out again.
public final class MailQueue: @unchecked Sendable {
    /// How a commit batch reaches stable storage.
    public enum SyncMode: String, Sendable, CaseIterable {
        /// One syncfs(2) for the whole batch, then one directory fsync:
        /// group commit, two journal commits however many messages.
        case syncfs
        /// fsync(2) of every file, then one directory fsync per batch.
        case fsync
    }

    public struct Stats: Sendable, Equatable {
        public var messages = 0
        public var batches = 0
        /// fsync + syncfs calls, directory syncs included.
        public var syncCalls = 0
        public var failures = 0
    }

    public let directory: String
    public let syncMode: SyncMode
    /// Bodies up to this size are held in memory until commit.
    public let spoolMemoryLimit: Int
    let incomingPath: String
    let messagesPath: String
    let corruptPath: String
    private let idGenerator: QueueIDGenerator
    /// What the start-up scan found.
    public let recovery: RecoveryReport
    let committer: GroupCommitter
    /// Delivered records kept for reuse (`DIR/spare/`).
    let spares: SpareFiles

    /// Seconds a commit waits at most for bodies still arriving (group
    /// commit's commit delay; issue #15): 1 ms.
    public static let defaultCommitDelay = 0.001

    /// The commit journal's size: 32 MiB.
    public static let defaultJournalSize = CommitJournal.defaultCapacity
    /// Smaller journals are refused by the configuration.
    public static let minimumJournalSize = 1 << 20

    /// Opens (creating if needed) the queue at `directory`, purges
    /// `incoming/`, and sets unreadable envelopes aside in `corrupt/`.
    /// `journalSize`: octets of the commit journal (`CommitJournal`); 0
    /// turns it off (each batch then syncs the filesystem and `msg/`). The
    /// daemon passes `[queue] journal_size_mb` (32 MiB unless set); left
    /// out, the smallest (1 MiB), which is laid out (written) at every
    /// start: cheap for the many queues tests open.
    public init(directory: String, syncMode: SyncMode = .syncfs, spoolMemoryLimit: Int = 128 * 1024,
                commitDelay: Double = MailQueue.defaultCommitDelay,
                journalSize: Int = MailQueue.minimumJournalSize) throws {
        self.directory = directory
        self.syncMode = syncMode
        self.spoolMemoryLimit = spoolMemoryLimit
        incomingPath = directory + "/incoming"
        messagesPath = directory + "/msg"
        corruptPath = directory + "/corrupt"
        for path in [directory, incomingPath, messagesPath, corruptPath] { try FileIO.makeDirectory(path) }
        for name in try FileIO.list(incomingPath) { unlink(incomingPath + "/" + name) }
        // Before anything reads msg/: records whose 250 went out but whose
        // files a crash lost are written back from the journal first.
        let journal = try CommitJournal(directory: directory, capacity: journalSize)
        let replay = try journal.replay()
        var recovery = try QueueRecovery.run(directory: directory, corruptPath: corruptPath)
        recovery.journalRestored = replay.restored
        recovery.journalRemoved = replay.removed
        recovery.journalUnavailable = journal.unavailable?.description
        self.recovery = recovery
        idGenerator = QueueIDGenerator(after: recovery.highestID)
        spares = try SpareFiles(path: directory + "/spare", messagesPath: messagesPath)
        journal.spares = spares
        committer = try GroupCommitter(incomingPath: incomingPath, messagesPath: messagesPath, syncMode: syncMode,
                                       commitDelay: commitDelay, spares: spares,
                                       journal: journalSize > 0 && journal.unavailable == nil ? journal : nil)
        committer.start()
    }

    deinit {
        committer.stop()
    }

    /// Starts a body for a new message under a fresh queue ID.
    public func makeSpool() -> Spool {
        let id = idGenerator.next()
        return Spool(id: id, path: "\(incomingPath)/\(id).msg", memoryLimit: spoolMemoryLimit, arriving: committer.arriving)
    }

    /// Makes the message durable, then calls `completion` on the committer
    /// thread: `.success` only once the 250 may be sent.
    public func commit(_ spool: Spool, envelope: Envelope,
                       completion: @escaping @Sendable (Result<Void, QueueIOError>) -> Void) {
        spool.arrived(waking: false)
        committer.enqueue(GroupCommitter.Job(spool: spool, envelope: envelope, completion: completion))
    }

    public func commit(_ spool: Spool, envelope: Envelope) async throws(QueueIOError) {
        let result = await withCheckedContinuation { continuation in
            commit(spool, envelope: envelope) { continuation.resume(returning: $0) }
        }
        try result.get()
    }

    public var stats: Stats { committer.stats }

    /// Bodies begun and not yet complete, committed or refused.
    var arrivingBodies: Int { committer.arriving.count.load(ordering: .relaxed) }

    /// Stops the committer after the batches already enqueued are done.
    public func close() {
        committer.stop()
    }
}
