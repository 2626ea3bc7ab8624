#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The body of one message while it arrives. Small bodies stay in memory
/// and are written by the committer; once a body passes `memoryLimit` it
/// goes to `incoming/ID.eml` in blocks, so memory does not grow with the
/// message size.
///
/// Owned by one session until it is handed to `MailQueue.commit`, which
/// takes it over (hence `@unchecked Sendable`: never shared, only moved).
public final class Spool: @unchecked Sendable {
    public let id: QueueID
    let path: String
    let memoryLimit: Int
    private(set) var buffer: [UInt8] = []
    private(set) var fd: Int32 = -1
    public private(set) var size = 0
    private var failed: QueueIOError?

    init(id: QueueID, path: String, memoryLimit: Int) {
        self.id = id
        self.path = path
        self.memoryLimit = memoryLimit
        buffer.reserveCapacity(min(memoryLimit, 16384))
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Appends bytes. Errors are remembered and reported at commit, so the
    /// client still gets its one reply after the end of data (451).
    public func append(_ bytes: UnsafeRawBufferPointer) {
        size += bytes.count
        guard failed == nil else { return }
        buffer.append(contentsOf: bytes)
        if buffer.count >= memoryLimit { flushToFile() }
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func append(_ string: String) {
        var copy = string
        copy.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    private func flushToFile() {
        do {
            if fd < 0 {
                fd = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_EXCL)
            }
            try FileIO.writeAll(fd, buffer, path: path)
            buffer.removeAll(keepingCapacity: true)
        } catch {
            failed = error
            buffer = []
        }
    }

    /// Called by the committer: everything on disk in `incoming/`, optionally
    /// fsync'd, file closed.
    func finish(fsync: Bool) throws(QueueIOError) {
        if let failed { throw failed }
        if fd < 0 { fd = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_EXCL) }
        if !buffer.isEmpty { try FileIO.writeAll(fd, buffer, path: path) }
        buffer = []
        if fsync { try FileIO.fsync(fd, path: path) }
        close(fd)
        fd = -1
    }

    /// The message so far, for content checks before the commit: its
    /// bytes while it is still in memory, else the path of the file with
    /// everything written out.
    public func contentForReading() throws(QueueIOError) -> (bytes: [UInt8]?, path: String?) {
        if let failed { throw failed }
        if fd < 0 { return (buffer, nil) }
        flushToFile()
        if let failed { throw failed }
        return (nil, path)
    }

    /// Throws the body away (refused message, or failed commit).
    public func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        unlink(path)
        buffer = []
    }
}
