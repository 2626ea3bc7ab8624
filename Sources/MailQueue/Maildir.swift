import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One Maildir (https://cr.yp.to/proto/maildir.html) and the one way Postern
/// puts a file into it, for the quarantine and for `maildir:` routes alike:
/// written to tmp/, fsync'd, renamed into new/, new/ fsync'd. Only after
/// the last step is the file a promise, as a queue commit is before a 250.
public struct Maildir: Sendable {
    /// One stage of `deliver`, for tests that stop it half way (a crash).
    public enum Step: Sendable, Equatable {
        case wroteTemporary, syncedFile, renamed, syncedDirectory
    }

    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public var newPath: String { directory + "/new" }
    public var curPath: String { directory + "/cur" }
    public var tmpPath: String { directory + "/tmp" }

    /// Makes the Maildir and any missing parent (mode 0700); existing
    /// directories keep their modes. A directory made here is made durable
    /// (its parent fsync'd), so a file renamed into it survives a crash too.
    public func create() throws(QueueIOError) {
        var made: [String] = []
        for path in [directory, newPath, curPath, tmpPath] { made += try FileIO.makeDirectory(path) }
        for path in made {
            let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            try FileIO.syncDirectory(parent.isEmpty ? "/" : parent)
        }
    }

    /// Writes `head`, then the body's octets, as `name` into new/ (by way
    /// of tmp/); returns the path in new/. On a failure before the rename,
    /// nothing is left behind.
    public func deliver(name: String, head: [UInt8], body: QueuedBody,
                        observe: (Step) throws -> Void = { _ in }) throws(QueueIOError) -> String {
        func step(_ step: Step, _ path: String) throws(QueueIOError) {
            do { try observe(step) } catch { throw QueueIOError(operation: "stopped after \(step)", path: path, errno: EIO) }
        }
        let temporary = tmpPath + "/" + name
        let fd = try FileIO.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL)
        var isOpen = true
        do throws(QueueIOError) {
            try FileIO.writeAll(fd, head, path: temporary)
            try FileIO.forEachBlock(body.path, offset: body.offset, limit: body.limit) { block throws(QueueIOError) in
                try FileIO.writeAll(fd, block, path: temporary)
            }
            try step(.wroteTemporary, temporary)
            try FileIO.fsync(fd, path: temporary)
            try step(.syncedFile, temporary)
            // close(2) on NFS reports write errors late (EIO, EDQUOT).
            isOpen = false
            if close(fd) != 0 { throw QueueIOError(operation: "close", path: temporary, errno: errno) }
        } catch {
            if isOpen { close(fd) }
            unlink(temporary)
            throw error
        }
        let target = newPath + "/" + name
        guard rename(temporary, target) == 0 else {
            let error = QueueIOError(operation: "rename", path: target, errno: errno)
            unlink(temporary)
            throw error
        }
        try step(.renamed, target)
        try FileIO.syncDirectory(newPath)
        try step(.syncedDirectory, target)
        return target
    }

    /// `hostname` with the characters Maildir names reserve ("/", ":")
    /// and Maildir++'s "," written as octal escapes, as the spec asks.
    public static func nameSafe(hostname: String) -> String {
        hostname.replacingOccurrences(of: "/", with: "\\057").replacingOccurrences(of: ":", with: "\\072")
            .replacingOccurrences(of: ",", with: "\\054")
    }

    private static let deliveries = Atomic<UInt64>(0)

    /// A fresh unique name, `<seconds>.M<usec>P<pid>Q<count>.<host>,S=<size>`:
    /// the modern Maildir form (time, microseconds, process, a per-process
    /// delivery count) with Maildir++'s size, so readers need no stat.
    /// `hostname` must be `nameSafe` already.
    public static func uniqueName(size: Int, hostname: String, now: timespec = Self.now()) -> String {
        let count = deliveries.add(1, ordering: .relaxed).newValue
        return "\(now.tv_sec).M\(now.tv_nsec / 1000)P\(getpid())Q\(count).\(hostname),S=\(size)"
    }

    public static func now() -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now
    }
}
