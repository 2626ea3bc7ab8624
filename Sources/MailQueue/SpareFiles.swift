#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Delivered records kept for reuse instead of unlinked (issue #15): the
/// next small record overwrites one in place. Creating a file (an inode and
/// its blocks) and unlinking it (freeing them, which on a filesystem mounted
/// with `discard` waits for the device) cost more kernel time per relayed
/// message than any other file operation; a rename each way and an
/// overwrite cost less.
///
/// Nothing here is trusted after a crash: a spare is garbage until it is
/// renamed into `incoming/` (purged at start) and rewritten whole, synced
/// and renamed into `msg/` like any new record. A spare is named by the
/// queue ID it last held, which no later message reuses.
///
/// A spare is reused only once its old name is durably gone from `msg/`:
/// the move out is not synced, and were the new content synced first, a
/// crash could bring back `msg/ID.msg` holding the old envelope over the new
/// body. So a kept record waits (`pending`) until a directory fsync of
/// `msg/` that began after its rename has finished (`promote`, called by the
/// committer around its own directory fsync).
final class SpareFiles: Sendable {
    /// At most this many spares are kept; beyond, records are unlinked.
    static let limit = 1000
    /// Larger records are unlinked: reusing one for a small message would
    /// free its blocks anyway, and they would hold disk space meanwhile.
    static let maxSize = 256 * 1024

    private struct Lists {
        /// Moved out of `msg/`, not yet known to be durably gone from it,
        /// each with its place in the order of moves and its length.
        var pending: [(mark: UInt64, spare: Spare)] = []
        /// Safe to overwrite.
        var ready: [Spare] = []
        /// The mark of the next move.
        var next: UInt64 = 0
        var count: Int { pending.count + ready.count }

        mutating func append(_ spare: Spare) {
            pending.append((next, spare))
            next += 1
        }
    }

    /// A spare's name and length in octets (`Int.max` when unknown: one
    /// left by an earlier run), so a record at least as long needs no
    /// ftruncate after it is written over the spare.
    struct Spare {
        var name: String
        var size: Int
    }

    private let directoryFD: Int32
    private let lists: Mutex<Lists>

    /// Opens (creating) `path`. Spares left there by an earlier run wait for
    /// the first directory fsync like new ones; one whose name is back in
    /// `messagesPath` (a move a crash undid half-way) is dropped.
    init(path: String, messagesPath: String) throws(QueueIOError) {
        try FileIO.makeDirectory(path)
        directoryFD = try FileIO.open(path, flags: O_RDONLY | O_DIRECTORY)
        var kept: [String] = []
        for name in try FileIO.list(path) {
            if kept.count >= Self.limit || access("\(messagesPath)/\(name).msg", F_OK) == 0 {
                unlinkat(directoryFD, name, 0)
            } else {
                kept.append(name)
            }
        }
        var lists = Lists()
        for name in kept { lists.append(Spare(name: name, size: .max)) }
        self.lists = Mutex(lists)
    }

    deinit { close(directoryFD) }

    var count: Int { lists.withLock { $0.count } }
    var readyCount: Int { lists.withLock { $0.ready.count } }

    /// Moves the record at `path` into the spares as `spare` (its queue ID);
    /// false when it was not kept (full, too large, or the rename failed):
    /// unlink it then.
    func keep(_ path: String, as spare: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0, Int(status.st_size) <= Self.maxSize else { return false }
        guard lists.withLock({ $0.count < Self.limit }) else { return false }
        guard renameat(AT_FDCWD, path, directoryFD, spare) == 0 else { return false }
        lists.withLock { $0.append(Spare(name: spare, size: Int(status.st_size))) }
        return true
    }

    /// A mark for the spares moved so far: take it before a directory fsync
    /// of `msg/` (or a journal sync of their removals) and hand it to
    /// `promote` once that succeeded. A mark, not a count: promotes from two
    /// threads (the committer's batch, a checkpoint) then never reach past
    /// what each one's sync covered.
    func pendingNow() -> UInt64 {
        lists.withLock { $0.next }
    }

    /// The spares moved before `mark` are durably gone from `msg/`.
    func promote(_ mark: UInt64) {
        lists.withLock { lists in
            let moved = lists.pending.prefix { $0.mark < mark }.count
            guard moved > 0 else { return }
            lists.ready.append(contentsOf: lists.pending.prefix(moved).map(\.spare))
            lists.pending.removeFirst(moved)
        }
    }

    /// Renames a ready spare to `name` in `directory` and returns its
    /// length; nil when there is none.
    func take(as name: String, into directory: Int32) -> Int? {
        while let spare = lists.withLock({ $0.ready.popLast() }) {
            if renameat(directoryFD, spare.name, directory, name) == 0 { return spare.size }
        }
        return nil
    }
}
