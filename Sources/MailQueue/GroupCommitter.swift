import CPosternSys
import Foundation
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Group commit: one thread takes every commit that arrived while the
/// previous batch was syncing and makes them durable together, so under
/// load the syncs per message fall well below one while each 250 still
/// waits for its own data (DESIGN.md "Group commit").
final class GroupCommitter: @unchecked Sendable {
    struct Job {
        let spool: Spool
        let envelope: Envelope
        let completion: @Sendable (Result<Void, QueueIOError>) -> Void
    }

    private let incomingPath: String
    private let messagesPath: String
    private let syncMode: MailQueue.SyncMode
    private let incomingFD: Int32
    private let messagesFD: Int32
    private let condition = NSCondition()
    private var pending: [Job] = []
    private var stopping = false
    private var running = false
    private var thread: Thread?
    private var _stats = MailQueue.Stats()
    /// The committer is in its commit delay (waits on `arriving.wake`).
    private var delaying = false
    /// Bodies still arriving, which a batch may wait for (`commitDelay`).
    let arriving = ArrivingBodies()
    /// How long a batch may wait for bodies still arriving, in seconds.
    let commitDelay: Double

    /// Records to overwrite instead of creating files.
    private let spares: SpareFiles?
    /// Where batches of small records are made durable, if on.
    let journal: CommitJournal?

    init(incomingPath: String, messagesPath: String, syncMode: MailQueue.SyncMode,
         commitDelay: Double = 0, spares: SpareFiles? = nil, journal: CommitJournal? = nil) throws(QueueIOError) {
        self.spares = spares
        self.journal = journal
        self.commitDelay = commitDelay
        self.incomingPath = incomingPath
        self.messagesPath = messagesPath
        self.syncMode = syncMode
        incomingFD = try FileIO.open(incomingPath, flags: O_RDONLY | O_DIRECTORY)
        messagesFD = try FileIO.open(messagesPath, flags: O_RDONLY | O_DIRECTORY)
    }

    deinit {
        close(incomingFD)
        close(messagesFD)
    }

    var stats: MailQueue.Stats {
        condition.lock()
        defer { condition.unlock() }
        return _stats
    }

    func start() {
        condition.lock()
        running = true
        condition.unlock()
        let thread = Thread { [self] in self.run() }
        thread.name = "postern-commit"
        thread.start()
        self.thread = thread
    }

    func enqueue(_ job: Job) {
        condition.lock()
        guard running, !stopping else {
            condition.unlock()
            job.spool.discard()
            job.completion(.failure(QueueIOError(operation: "commit", path: incomingPath, errno: ESHUTDOWN)))
            return
        }
        pending.append(job)
        if !delaying {
            condition.signal()
        } else if arriving.count.load(ordering: .relaxed) == 0 {
            // The last body the delay waited for: end it. Earlier commits
            // join the batch without waking the committer (a switch each).
            arriving.wake.signal()
        }
        condition.unlock()
    }

    /// Finishes queued batches, then ends the thread.
    func stop() {
        condition.lock()
        guard running else { condition.unlock(); return }
        stopping = true
        condition.broadcast()
        if delaying { arriving.wake.signal() }
        while running { condition.wait() }
        condition.unlock()
    }

    private func run() {
        // Named from inside: Linux threads inherit the creator's name
        // otherwise, and the benchmarks tell threads apart by it.
        postern_name_this_thread("postern-commit")
        while true {
            condition.lock()
            while pending.isEmpty && !stopping {
                guard let journal else { condition.wait(); continue }
                // Woken at least once a second to write removals that no
                // journal batch took (CommitJournal.flushRemovals).
                if !condition.wait(until: Date(timeIntervalSinceNow: 1)) {
                    condition.unlock()
                    journal.flushRemovals(olderThan: 1)
                    condition.lock()
                }
            }
            if pending.isEmpty && stopping {
                // A clean stop leaves nothing to replay.
                try? journal?.checkpoint()
                running = false
                condition.broadcast()
                condition.unlock()
                return
            }
            var batch = pending
            pending = []
            // The commit delay (PostgreSQL's commit_delay and commit_siblings):
            // while other bodies are still arriving, wait a little for them,
            // so that one sync serves them too. Each 250 still waits for its
            // own sync; the delay only trades latency for fewer syncs.
            // The wait is on the monotonic clock (a semaphore, not the
            // condition's wall-clock deadline): a clock stepped back must not
            // hold the 250s. It ends when no body is arriving any more (the
            // last one committed or refused) or at the deadline.
            if commitDelay > 0, arriving.count.load(ordering: .relaxed) > 0 {
                let deadline = DispatchTime.now() + commitDelay
                while arriving.wake.wait(timeout: .now()) == .success {} // stale wake-ups
                delaying = true
                while !stopping, arriving.count.load(ordering: .relaxed) > 0 {
                    condition.unlock()
                    let timedOut = arriving.wake.wait(timeout: deadline) == .timedOut
                    condition.lock()
                    batch += pending
                    pending = []
                    if timedOut { break }
                }
                delaying = false
            }
            condition.unlock()
            let started = DispatchTime.now().uptimeNanoseconds
            let (results, syncs) = commitBatch(batch)
            let failures = results.filter { !isSuccess($0) }.count
            QueueMetrics.recordBatch(messages: batch.count, syncs: syncs, failures: failures,
                                     nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - started))
            condition.lock()
            _stats.batches += 1
            _stats.syncCalls += syncs
            for result in results {
                if case .success = result { _stats.messages += 1 } else { _stats.failures += 1 }
            }
            condition.unlock()
            for (job, result) in zip(batch, results) { job.completion(result) }
            journal?.flushRemovals(olderThan: 1)
        }
    }

    /// Writes, syncs and renames one batch. Returns each job's outcome and
    /// the number of sync calls made. Each message is one file, its record
    /// (`MessageRecord`): body, envelope, trailer; so one rename each.
    private func commitBatch(_ batch: [Job]) -> ([Result<Void, QueueIOError>], Int) {
        let suffixes = batch.map { MessageRecord.suffix(for: $0.envelope) }
        let journal = journal(for: batch, suffixes: suffixes)
        var results = [Result<Void, QueueIOError>](repeating: .success(()), count: batch.count)
        var syncs = 0
        let perFileSync = journal == nil && syncMode == .fsync
        // 1. The whole record in incoming/.
        for (index, job) in batch.enumerated() {
            do {
                try job.spool.finish(appending: suffixes[index], fsync: perFileSync,
                                     spares: spares, incoming: incomingFD)
                if perFileSync { syncs += 1 }
            } catch {
                results[index] = .failure(error)
            }
        }
        if let journal {
            syncs += syncToJournal(batch, suffixes: suffixes, results: &results, journal: journal)
        } else {
            syncs += syncAndRename(batch, results: &results)
        }
        for (index, job) in batch.enumerated() where !isSuccess(results[index]) {
            job.spool.discard()
        }
        return (results, syncs)
    }

    /// The journal, when it takes this batch: on and usable, every body
    /// still in memory, and at most `CommitJournal.batchLimit` octets.
    private func journal(for batch: [Job], suffixes: [[UInt8]]) -> CommitJournal? {
        guard let journal, journal.isUsable, batch.allSatisfy({ $0.spool.isInMemory }) else { return nil }
        let octets = zip(batch, suffixes).reduce(0) { $0 + $1.0.spool.size + $1.1.count + CommitJournal.recordHeaderSize }
        return octets <= CommitJournal.batchLimit && journal.fits(octets) ? journal : nil
    }

    /// The classic commit of records written to incoming/: one syncfs (in
    /// syncfs mode), the renames into msg/, one directory fsync.
    private func syncAndRename(_ batch: [Job], results: inout [Result<Void, QueueIOError>]) -> Int {
        var syncs = 0
        // 2. One syncfs covers every file of the batch.
        if syncMode == .syncfs, results.contains(where: isSuccess) {
            syncs += 1
            if postern_syncfs(incomingFD) != 0 {
                let error = QueueIOError(operation: "syncfs", path: incomingPath, errno: errno)
                results = results.map { _ in .failure(error) }
            }
        }
        // 3. Into msg/: the record is whole before its name appears there.
        var renamed: [Int] = []
        for (index, job) in batch.enumerated() where isSuccess(results[index]) {
            let name = "\(job.envelope.id).msg"
            if postern_rename_noreplace(incomingFD, name, messagesFD, name) == 0 {
                renamed.append(index)
            } else {
                results[index] = .failure(QueueIOError(operation: "rename", path: name, errno: errno))
            }
        }
        // 4. The directory entries themselves. Records moved out to the
        // spares before this fsync are durably gone from msg/ after it, so
        // they may be overwritten from now on (SpareFiles).
        if !renamed.isEmpty {
            syncs += 1
            let moved = spares?.pendingNow() ?? 0
            if fsync(messagesFD) != 0 {
                let error = QueueIOError(operation: "fsync", path: messagesPath, errno: errno)
                for index in renamed {
                    // Not durable: take it back so the client's retry is not a duplicate.
                    unlinkat(messagesFD, "\(batch[index].envelope.id).msg", 0)
                    results[index] = .failure(error)
                }
            } else {
                spares?.promote(moved)
            }
        }
        return syncs
    }

    /// A batch of bodies still in memory, written to incoming/ unsynced:
    /// appended to the journal and synced there (one fdatasync), then
    /// renamed into msg/ with no directory fsync: a replay after a crash
    /// writes them again (`CommitJournal`).
    private func syncToJournal(_ batch: [Job], suffixes: [[UInt8]], results: inout [Result<Void, QueueIOError>],
                               journal: CommitJournal) -> Int {
        let written = batch.indices.filter { isSuccess(results[$0]) }
        guard !written.isEmpty else { return 0 }
        let commits = written.map { (id: batch[$0].envelope.id, body: batch[$0].spool.committedBytes ?? ByteBuffer(),
                                     suffix: suffixes[$0]) }
        // Marked before the removals are taken: each of these spares
        // was moved while its removal was being noted (MailQueue.remove).
        let moved = spares?.pendingNow() ?? 0
        do {
            return try journal.append(commits, movedSpares: moved) {
                for index in written {
                    let name = "\(batch[index].envelope.id).msg"
                    if postern_rename_noreplace(incomingFD, name, messagesFD, name) != 0 {
                        results[index] = .failure(QueueIOError(operation: "rename", path: name, errno: errno))
                        // Durable in the journal all the same: a replay must not bring it back.
                        journal.noteRemoval(batch[index].envelope.id) { _ in }
                    }
                }
            }
        } catch {
            for index in written { results[index] = .failure(error) }
            // Perhaps on disk all the same: a replay must not bring them back.
            for commit in commits { journal.noteRemoval(commit.id) { _ in } }
            return 0
        }
    }

    private func isSuccess(_ result: Result<Void, QueueIOError>) -> Bool {
        if case .success = result { return true }
        return false
    }
}
