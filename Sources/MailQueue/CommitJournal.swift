import CPosternSys
import Dispatch
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The commit journal, `DIR/journal` (issue #15): a preallocated file that
/// small records are appended to, one `fdatasync` per batch, before their
/// 250. That is one write and one cache flush on blocks already allocated,
/// where the classic commit makes every new file durable with a `syncfs`
/// and its name with a directory fsync (0.17 ms against 0.84 ms at the
/// median on the benchmark machine, timed alone by bench/synclat.py). The record files are still written to
/// `incoming/` and renamed into `msg/`, unsynced; they become durable at a
/// checkpoint (`syncfs`, directory fsync, then a new generation), when the
/// journal is full or the queue closes. After a crash the records of the
/// current generation are written again from the journal before the queue
/// is read (`replay`), so a 250 still means the message is on stable
/// storage. PostgreSQL's WAL and its checkpoints make the same trade.
///
///     [0, 32)        header: "postern-journal\n", version (UInt32),
///                    generation (UInt64), CRC-32C of the 28 octets before it
///     [4096, …)      records, each: magic "PJR1", kind (1 commit, 2 removal),
///                    3 zero octets, generation, queue ID, payload length (all
///                    little-endian), CRC-32C of those 28 octets and the
///                    payload, then the payload (a commit: the whole record
///                    file, `MessageRecord`; a removal: none)
///
/// A scan stops at the first record that is not whole and of the header's
/// generation: older generations' octets are never cleared, only passed.
///
/// A removal record keeps a replay from bringing back a message removed
/// after its commit; a replay unlinks the files every removal record names,
/// since the unlink itself may not have reached the disk. Removals of
/// delivered messages ride on the next batch's sync, or are written within
/// a second when none comes (a crash before that delivers them again, as
/// an unsynced unlink always could); an operator's delete or a quarantine
/// move is written and synced before its files go (`removeDurably`).
/// Whatever must not be split by a checkpoint (a record and its unlink, a
/// batch's sync and its renames) runs under the journal's lock, which a
/// checkpoint takes too.
final class CommitJournal: @unchecked Sendable {
    static let fileName = "journal"
    static let headerSize = 4096
    static let headerMagic = Array("postern-journal\n".utf8)
    static let version: UInt32 = 1
    static let recordMagic = Array("PJR1".utf8)
    static let recordHeaderSize = 32
    /// A replay reads the journal this much at a time.
    static let replayWindow = 1 << 20
    /// Space kept for removal records of operator deletes and quarantine
    /// moves, which cannot wait for a checkpoint.
    static let removalReserve = 64 * 1024
    /// Removals of delivered messages held for the next batch at most;
    /// beyond, they go unrecorded (a crash may deliver those again) and
    /// their records are unlinked rather than kept as spares.
    static let pendingRemovalLimit = 8192
    /// Larger batches take the classic commit. The journal pays where a
    /// sync's latency is most of a batch's cost; it writes every octet
    /// twice and fills, forcing a checkpoint (a syncfs of all written
    /// since). Relaying 100 KiB messages it gained 12 % over 10 sessions
    /// (batches of ~3) and lost 6 % over 100 (batches of 10–14), so a batch
    /// of more than 512 KiB is synced the classic way (bench/README.md,
    /// seventh pass).
    static let batchLimit = 512 * 1024
    /// 32 MiB: about 7,000 records of 4 KiB between checkpoints.
    static let defaultCapacity = 32 << 20

    let directory: String
    let path: String
    let capacity: Int
    private let fd: Int32
    private let incomingFD: Int32
    private let messagesFD: Int32
    /// Set once, after the replay and before the committer starts (the
    /// spares are read after the replay has put `msg/` back together).
    var spares: SpareFiles?

    private struct State {
        var generation: UInt64
        var offset: Int
        var checkpoints = 0
    }

    private struct Removals {
        var ids: [QueueID] = []
        /// When the oldest was noted (uptime nanoseconds).
        var since: UInt64 = 0
    }

    /// Guards the file's end: the committer appends batches, other threads
    /// durable removals. Held across the fdatasync; only operator actions
    /// ever wait on it.
    private let state: Mutex<State>
    private let removals = Mutex(Removals())
    /// Set (under `state`) when a checkpoint's header could not be synced;
    /// atomic so a delivered message's removal can ask without waiting for
    /// the committer's fdatasync.
    private let broken = Atomic<Bool>(false)

    /// Opens (creating) the journal in `directory`; `replay` next, before
    /// anything else touches the queue. `capacity` 0: replay, then remove it.
    init(directory: String, capacity: Int) throws(QueueIOError) {
        self.directory = directory
        path = directory + "/" + Self.fileName
        self.capacity = capacity
        incomingFD = try FileIO.open(directory + "/incoming", flags: O_RDONLY | O_DIRECTORY)
        do {
            messagesFD = try FileIO.open(directory + "/msg", flags: O_RDONLY | O_DIRECTORY)
        } catch {
            close(incomingFD)
            throw error
        }
        do {
            fd = try FileIO.open(path, flags: O_RDWR | O_CREAT)
        } catch {
            close(incomingFD)
            close(messagesFD)
            throw error
        }
        state = Mutex(State(generation: 0, offset: Self.headerSize))
    }

    deinit {
        close(fd)
        close(incomingFD)
        close(messagesFD)
    }

    var generation: UInt64 { state.withLock { $0.generation } }
    var checkpoints: Int { state.withLock { $0.checkpoints } }

    // MARK: - Start

    /// What a replay did.
    struct Replay: Equatable {
        var restored = 0
        var removed = 0
    }

    /// Writes the live commit records of the current generation back into
    /// `msg/` (whole, through `incoming/`), applies the removals after them,
    /// makes that durable, and lays the journal out for `capacity` with a
    /// new generation. Run before the queue is read.
    func replay() throws(QueueIOError) -> Replay {
        var report = Replay()
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw QueueIOError(operation: "stat", path: path, errno: errno) }
        let size = Int(info.st_size)
        var generation: UInt64 = 0
        var valid = false
        if size >= Self.headerSize {
            let header = try FileIO.read(fd, count: 32, at: 0, path: path)
            if let found = header.withUnsafeBytes({ Self.generation(header: $0) }) {
                generation = found
                valid = true
                let records = try Self.records(fileSize: size, generation: found, window: Self.replayWindow) { (offset, count) throws(QueueIOError) in
                    try FileIO.read(fd, count: count, at: offset, path: path)
                }
                var live: [QueueID: Range<Int>] = [:]
                var order: [QueueID] = []
                var removed: [QueueID] = []
                for record in records {
                    switch record.kind {
                    case .commit:
                        if live[record.id] == nil { order.append(record.id) }
                        live[record.id] = record.payload
                    case .removal:
                        // Its files go whether or not its commit is in this
                        // generation: the unlink itself may not have
                        // reached the disk.
                        live.removeValue(forKey: record.id)
                        removed.append(record.id)
                    }
                }
                for id in order {
                    guard let payload = live[id] else { continue }
                    try restore(id, try FileIO.read(fd, count: payload.count, at: payload.lowerBound, path: path)[...])
                    report.restored += 1
                }
                for id in Set(removed) {
                    QueueFiles.removeAll(id, in: messagesFD)
                    report.removed += 1
                }
            }
        }
        try checkpointFiles()
        // Everything replayed is durable now: whatever happens to the
        // journal below, nothing it held can be lost any more.
        do {
            if size != capacity || !valid { try layOut() }
            if capacity > 0 { try startGeneration(generation &+ 1) }
        } catch {
            // No room for it (a small queue filesystem): the queue runs
            // with the classic commit, which needs no space of its own.
            unavailable = error
        }
        if capacity == 0 || unavailable != nil {
            // Its header first: were the unlink undone by a crash, a journal
            // still naming its generation would be replayed again later,
            // bringing back messages delivered meanwhile.
            try? writeSynced([UInt8](repeating: 0, count: 32))
            ftruncate(fd, 0)
            unlink(path)
        }
        return report
    }

    /// Why the journal could not be laid out at start, if it could not (the
    /// queue then runs without it).
    private(set) var unavailable: QueueIOError?

    /// The file cleared and, for a journal in use, written out to its
    /// capacity. Written, not fallocate'd: an fdatasync into unwritten
    /// extents would have to write their metadata too. Cleared even when
    /// the size is right but the header was not valid: the octets are then
    /// unknown, and no old record may ever follow the new generation's last.
    private func layOut() throws(QueueIOError) {
        guard ftruncate(fd, 0) == 0 else { throw QueueIOError(operation: "ftruncate", path: path, errno: errno) }
        guard capacity > 0 else { return }
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        var written = 0
        while written < capacity {
            let count = min(zeros.count, capacity - written)
            try FileIO.writeAll(fd, zeros[0..<count], at: written, path: path)
            written += count
        }
        try FileIO.fsync(fd, path: path)
        try FileIO.syncDirectory(directory) // a new file's name, too
    }

    /// One record file written back whole, synced by the checkpoint after.
    private func restore(_ id: QueueID, _ record: ArraySlice<UInt8>) throws(QueueIOError) {
        let name = "\(id).msg"
        let file = try FileIO.open(name, flags: O_WRONLY | O_CREAT | O_TRUNC, at: incomingFD)
        defer { close(file) }
        try FileIO.writeAll(file, record, at: 0, path: name)
        // A sidecar ID.env, if any, still supersedes the embedded envelope.
        guard renameat(incomingFD, name, messagesFD, name) == 0 else {
            throw QueueIOError(operation: "rename", path: name, errno: errno)
        }
    }

    private func startGeneration(_ generation: UInt64) throws(QueueIOError) {
        try writeSynced(Self.header(generation: generation))
        state.withLock {
            $0.generation = generation
            $0.offset = Self.headerSize
        }
    }

    /// `bytes` written at `offset` and synced (records, or a header at 0:
    /// a new generation's, or zeros to retire the journal).
    private func writeSynced(_ bytes: [UInt8], at offset: Int = 0) throws(QueueIOError) {
        try FileIO.writeAll(fd, bytes[...], at: offset, path: path)
        try dataSync()
    }

    private func dataSync() throws(QueueIOError) {
        guard fdatasync(fd) == 0 else { throw QueueIOError(operation: "fdatasync", path: path, errno: errno) }
    }

    /// Every record file written so far, and its name in `msg/`, durable.
    private func checkpointFiles() throws(QueueIOError) {
        guard postern_syncfs(incomingFD) == 0 else { throw QueueIOError(operation: "syncfs", path: path, errno: errno) }
        guard fsync(messagesFD) == 0 else { throw QueueIOError(operation: "fsync", path: "msg", errno: errno) }
    }

    // MARK: - Running

    /// A record of this size may go into the journal at all.
    func fits(_ octets: Int) -> Bool {
        octets <= capacity - Self.headerSize - Self.removalReserve - Self.pendingRemovalLimit * Self.recordHeaderSize
    }

    /// False once a checkpoint's header could not be synced: the disk may
    /// hold either generation, so nothing more is written to the journal
    /// (batches take the classic commit, durable removals fail) until a
    /// start lays it out anew.
    var isUsable: Bool { !broken.load(ordering: .acquiring) }

    /// A delivered message's removal: `remove` runs (given whether the
    /// removal was recorded) while the pending removals are held, so a batch
    /// never takes the record before the files have gone; the record is
    /// written with the next batch. Not recorded when too many wait: a
    /// crash may deliver that one again, and its record must be unlinked,
    /// not kept as a spare.
    func noteRemoval<T, E: Error>(_ id: QueueID, _ remove: (_ recorded: Bool) throws(E) -> T) throws(E) -> T {
        try removals.withLock { (pending) throws(E) in
            let recorded = pending.ids.count < Self.pendingRemovalLimit
            if recorded {
                if pending.ids.isEmpty { pending.since = DispatchTime.now().uptimeNanoseconds }
                pending.ids.append(id)
            }
            return try remove(recorded)
        }
    }

    /// Appends a batch of commit records (body and suffix each) and the
    /// pending removals, syncs them, then runs `durable` (the renames into
    /// `msg/`) before any checkpoint can begin: a checkpoint that retired
    /// the generation before the renames would leave them unsynced and out
    /// of every replay. Returns the syncs made (1, or 4 with a checkpoint
    /// first). `movedSpares`: the spares' mark taken before the removals
    /// were, promoted once they are durable.
    func append(_ commits: [(id: QueueID, body: ByteBuffer, suffix: [UInt8])], movedSpares: UInt64,
                durable: () -> Void) throws(QueueIOError) -> Int {
        let removed = takeRemovals()
        if commits.isEmpty && removed.isEmpty { return 0 }
        var syncs = 0
        do {
            try state.withLock { (state) throws(QueueIOError) in
                guard isUsable else { throw QueueIOError(operation: "write", path: path, errno: EIO) }
                let needed = commits.reduce(0) { $0 + Self.recordHeaderSize + $1.body.readableBytes + $1.suffix.count }
                    + removed.count * Self.recordHeaderSize
                if state.offset + needed > capacity - Self.removalReserve {
                    syncs += try checkpoint(&state)
                    QueueMetrics.journalCheckpoints.increment()
                }
                try write(commits, removed: removed, octets: needed, &state)
                syncs += 1
                durable()
            }
        } catch {
            putBack(removed)
            throw error
        }
        spares?.promote(movedSpares)
        return syncs
    }

    /// An operator's delete or a quarantine move: the removal record is
    /// written and synced, then `remove` unlinks the files, both before any
    /// checkpoint can begin (a checkpoint in between would retire the record
    /// while the unlink was not yet durable).
    func removeDurably(_ id: QueueID, _ remove: () throws(QueueIOError) -> Void) throws(QueueIOError) {
        try state.withLock { (state) throws(QueueIOError) in
            guard isUsable else { throw QueueIOError(operation: "write", path: path, errno: EIO) }
            if state.offset + Self.recordHeaderSize > capacity {
                _ = try checkpoint(&state)
                QueueMetrics.journalCheckpoints.increment()
            }
            try write(Self.recordHeader(.removal, id: id, generation: state.generation), &state)
            try remove()
        }
    }

    /// Writes and syncs the pending removals when the oldest has waited
    /// `seconds` (the committer calls this between batches and when idle):
    /// on a quiet queue, or one whose batches all take the classic commit,
    /// they would otherwise wait for the next journal batch, and a crash
    /// meanwhile would deliver those messages again.
    func flushRemovals(olderThan seconds: Double) {
        let due = removals.withLock { pending in
            pending.ids.isEmpty ? false : DispatchTime.now().uptimeNanoseconds - pending.since >= UInt64(seconds * 1e9)
        }
        guard due else { return }
        let moved = spares?.pendingNow() ?? 0
        do {
            _ = try append([], movedSpares: moved) {}
        } catch {
            // Left pending (put back by append) for the next batch.
        }
    }

    private func takeRemovals() -> [QueueID] {
        removals.withLock { pending in
            defer { pending.ids = [] }
            return pending.ids
        }
    }

    private func putBack(_ removed: [QueueID]) {
        guard !removed.isEmpty else { return }
        removals.withLock { pending in
            let room = max(0, Self.pendingRemovalLimit - pending.ids.count)
            pending.ids.insert(contentsOf: removed.suffix(room), at: 0)
            pending.since = DispatchTime.now().uptimeNanoseconds
        }
    }

    /// Checkpoint and a new generation now (the queue closes cleanly, so
    /// the next start replays nothing; not counted as one forced by a full
    /// journal).
    func checkpoint() throws(QueueIOError) {
        try state.withLock { (state) throws(QueueIOError) in
            guard isUsable else { return }
            _ = try checkpoint(&state)
        }
    }

    /// The offset moves only once the sync succeeded: after a failed one the
    /// range's content is unknown (Linux may have dropped the pages), and
    /// the next batch writes over it again rather than after a hole that
    /// would end every later replay there.
    private func write(_ bytes: [UInt8], _ state: inout State) throws(QueueIOError) {
        try writeSynced(bytes, at: state.offset)
        state.offset += bytes.count
    }

    /// A batch's records: the headers and suffixes gathered in one small
    /// buffer, the bodies written from where they are (pwritev), so a
    /// 100 KiB body is not copied once more on its way to the journal.
    private func write(_ commits: [(id: QueueID, body: ByteBuffer, suffix: [UInt8])], removed: [QueueID],
                       octets: Int, _ state: inout State) throws(QueueIOError) {
        var small: [UInt8] = []
        var bodies: [(UnsafeRawBufferPointer, Unmanaged<AnyObject>)] = []
        var ends: [(header: Int, suffix: Int)] = []
        for commit in commits {
            let body = commit.body.withUnsafeReadableBytesWithStorageManagement { pointer, storage in
                (pointer, storage.retain())
            }
            bodies.append(body)
            commit.suffix.withUnsafeBytes { suffix in
                small += Self.recordHeader(.commit, id: commit.id, generation: state.generation, payload: body.0, suffix)
            }
            let header = small.count
            small += commit.suffix
            ends.append((header, small.count))
        }
        defer { for body in bodies { body.1.release() } }
        for id in removed { small += Self.recordHeader(.removal, id: id, generation: state.generation) }
        let result: Result<Void, QueueIOError> = small.withUnsafeBytes { small in
            var parts: [UnsafeRawBufferPointer] = []
            parts.reserveCapacity(commits.count * 3 + 1)
            var start = 0
            for (index, end) in ends.enumerated() {
                parts.append(UnsafeRawBufferPointer(rebasing: small[start..<end.header]))
                parts.append(bodies[index].0)
                parts.append(UnsafeRawBufferPointer(rebasing: small[end.header..<end.suffix]))
                start = end.suffix
            }
            parts.append(UnsafeRawBufferPointer(rebasing: small[start...]))
            do throws(QueueIOError) {
                try FileIO.writeAll(fd, parts, at: state.offset, path: path)
                try dataSync()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        state.offset += octets
    }

    private func checkpoint(_ state: inout State) throws(QueueIOError) -> Int {
        let moved = spares?.pendingNow() ?? 0
        try checkpointFiles()
        spares?.promote(moved)
        let next = state.generation &+ 1
        do throws(QueueIOError) {
            try writeSynced(Self.header(generation: next))
        } catch {
            broken.store(true, ordering: .releasing)
            throw error
        }
        state.generation = next
        state.offset = Self.headerSize
        state.checkpoints += 1
        return 3
    }
}
