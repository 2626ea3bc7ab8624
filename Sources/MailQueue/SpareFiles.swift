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
final class SpareFiles: Sendable {
    /// At most this many spares are kept; beyond, records are unlinked.
    static let limit = 1000
    /// Larger records are unlinked: reusing one for a small message would
    /// free its blocks anyway, and they would hold disk space meanwhile.
    static let maxSize = 256 * 1024

    let path: String
    private let directoryFD: Int32
    private let names: Mutex<[String]>

    /// Opens (creating) `path`; spares left there by an earlier run are used.
    init(path: String) throws(QueueIOError) {
        self.path = path
        try FileIO.makeDirectory(path)
        directoryFD = try FileIO.open(path, flags: O_RDONLY | O_DIRECTORY)
        var found = try FileIO.list(path)
        for extra in found.dropFirst(Self.limit) { unlinkat(directoryFD, extra, 0) }
        found = Array(found.prefix(Self.limit))
        names = Mutex(found)
    }

    deinit { close(directoryFD) }

    var count: Int { names.withLock { $0.count } }

    /// Moves the record at `path` into the spares as `spare` (its queue ID);
    /// false when it was not kept (full, too large, or the rename failed):
    /// unlink it then.
    func keep(_ path: String, as spare: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0, Int(status.st_size) <= Self.maxSize else { return false }
        guard names.withLock({ $0.count < Self.limit }) else { return false }
        guard renameat(AT_FDCWD, path, directoryFD, spare) == 0 else { return false }
        names.withLock { $0.append(spare) }
        return true
    }

    /// Renames a spare to `name` in `directory`; false when there is none.
    func take(as name: String, into directory: Int32) -> Bool {
        while let spare = names.withLock({ $0.popLast() }) {
            if renameat(directoryFD, spare, directory, name) == 0 { return true }
        }
        return false
    }
}
