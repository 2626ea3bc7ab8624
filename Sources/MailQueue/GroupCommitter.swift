import CPosternSys
import Foundation
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

    init(incomingPath: String, messagesPath: String, syncMode: MailQueue.SyncMode,
         commitDelay: Double = 0, spares: SpareFiles? = nil) throws(QueueIOError) {
        self.spares = spares
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

    /// Records renamed into `msg/` whose directory entries are not durable
    /// yet (syncfs mode): the next batch's syncfs makes them so, or a
    /// directory fsync when no batch follows (see `run`).
    private struct Renamed {
        var batch: [Job]
        var results: [Result<Void, QueueIOError>]
        /// Indices of `batch` whose record is in `msg/`.
        var inMessages: [Int]
        var syncs: Int
        var started: UInt64
    }

    private func run() {
        // Named from inside: Linux threads inherit the creator's name
        // otherwise, and the benchmarks tell threads apart by it.
        postern_name_this_thread("postern-commit")
        var renamed: Renamed?
        while true {
            condition.lock()
            while pending.isEmpty && !stopping && renamed == nil { condition.wait() }
            if pending.isEmpty && stopping && renamed == nil {
                running = false
                condition.broadcast()
                condition.unlock()
                return
            }
            var batch = pending
            pending = []
            waitForArrivingBodies(into: &batch)
            condition.unlock()
            if batch.isEmpty, let waiting = renamed {
                // No batch to share a sync with: the directory fsync now.
                renamed = nil
                complete(syncMessagesDirectory(waiting))
                continue
            }
            let started = DispatchTime.now().uptimeNanoseconds
            var (results, syncs) = writeRecords(batch)
            if syncMode == .syncfs {
                // Step 2 of this batch and step 4 of the one renamed before
                // it in one syncfs: it flushes this batch's records and every
                // directory entry made so far (the renames into msg/, and the
                // records moved out to the spares, which may be overwritten
                // after it: SpareFiles).
                let moved = spares?.pendingNow() ?? 0
                if results.contains(where: isSuccess) || renamed != nil {
                    syncs += 1
                    if postern_syncfs(incomingFD) != 0 {
                        let error = QueueIOError(operation: "syncfs", path: incomingPath, errno: errno)
                        results = results.map { _ in .failure(error) }
                        renamed.map { complete(takeBack($0, error)) }
                        renamed = nil
                    } else {
                        spares?.promote(moved)
                    }
                }
                if let waiting = renamed { complete(waiting) }
                renamed = rename(batch, results, syncs: syncs, started: started)
                // Nothing renamed (every record failed): done now.
                if let nothing = renamed, nothing.inMessages.isEmpty {
                    renamed = nil
                    complete(nothing)
                }
            } else {
                complete(syncMessagesDirectory(rename(batch, results, syncs: syncs, started: started)))
            }
        }
    }

    /// The commit delay (PostgreSQL's commit_delay and commit_siblings):
    /// while other bodies are still arriving, wait a little for them, so
    /// that one sync serves them too. Each 250 still waits for its own
    /// sync; the delay only trades latency for fewer syncs. The wait is on
    /// the monotonic clock (a semaphore, not the condition's wall-clock
    /// deadline): a clock stepped back must not hold the 250s. It ends when
    /// no body is arriving any more (the last one committed or refused) or
    /// at the deadline. Called and returns with the condition locked.
    private func waitForArrivingBodies(into batch: inout [Job]) {
        guard commitDelay > 0, arriving.count.load(ordering: .relaxed) > 0 else { return }
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

    /// Counts the batch and calls each job's completion.
    private func complete(_ done: Renamed) {
        let failures = done.results.filter { !isSuccess($0) }.count
        QueueMetrics.recordBatch(messages: done.batch.count, syncs: done.syncs, failures: failures,
                                 nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - done.started))
        condition.lock()
        _stats.batches += 1
        _stats.syncCalls += done.syncs
        _stats.messages += done.batch.count - failures
        _stats.failures += failures
        condition.unlock()
        for (job, result) in zip(done.batch, done.results) { job.completion(result) }
    }

    /// 1. Each record whole in incoming/ (fsync'd one by one in fsync mode).
    /// Returns each job's outcome and the sync calls made.
    private func writeRecords(_ batch: [Job]) -> ([Result<Void, QueueIOError>], Int) {
        var results = [Result<Void, QueueIOError>](repeating: .success(()), count: batch.count)
        var syncs = 0
        let perFileSync = syncMode == .fsync
        for (index, job) in batch.enumerated() {
            do {
                try job.spool.finish(appending: MessageRecord.suffix(for: job.envelope), fsync: perFileSync,
                                     spares: spares, incoming: incomingFD)
                if perFileSync { syncs += 1 }
            } catch {
                results[index] = .failure(error)
            }
        }
        return (results, syncs)
    }

    /// 3. Into msg/: each record is whole (synced) before its name appears
    /// there. Spools of records that failed are thrown away.
    private func rename(_ batch: [Job], _ results: [Result<Void, QueueIOError>], syncs: Int, started: UInt64) -> Renamed {
        var done = Renamed(batch: batch, results: results, inMessages: [], syncs: syncs, started: started)
        for (index, job) in batch.enumerated() where isSuccess(done.results[index]) {
            let name = "\(job.envelope.id).msg"
            if postern_rename_noreplace(incomingFD, name, messagesFD, name) == 0 {
                done.inMessages.append(index)
            } else {
                done.results[index] = .failure(QueueIOError(operation: "rename", path: name, errno: errno))
            }
        }
        for (index, job) in batch.enumerated() where !isSuccess(done.results[index]) {
            job.spool.discard()
        }
        return done
    }

    /// 4. The directory entries themselves, by an fsync of msg/. Records
    /// moved out to the spares before it are durably gone from msg/ after
    /// it, so they may be overwritten from then on (SpareFiles).
    private func syncMessagesDirectory(_ renamed: Renamed) -> Renamed {
        guard !renamed.inMessages.isEmpty else { return renamed }
        var done = renamed
        done.syncs += 1
        let moved = spares?.pendingNow() ?? 0
        if fsync(messagesFD) != 0 {
            return takeBack(done, QueueIOError(operation: "fsync", path: messagesPath, errno: errno))
        }
        spares?.promote(moved)
        return done
    }

    /// The entries in msg/ could not be made durable: take them back, so
    /// the client's retry is not a duplicate.
    private func takeBack(_ renamed: Renamed, _ error: QueueIOError) -> Renamed {
        var done = renamed
        for index in done.inMessages {
            unlinkat(messagesFD, "\(done.batch[index].envelope.id).msg", 0)
            done.results[index] = .failure(error)
        }
        done.inMessages = []
        return done
    }

    private func isSuccess(_ result: Result<Void, QueueIOError>) -> Bool {
        if case .success = result { return true }
        return false
    }
}
