#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import Dispatch
import NIOCore
import Synchronization

/// The body of one message while it arrives. Small bodies stay in memory
/// and are written by the committer; once a body passes `memoryLimit` it
/// goes to `incoming/ID.msg` in blocks, so memory does not grow with the
/// message size. Those blocks are written by a serial queue of the
/// spool's own, never on the session's event loop; the session stops
/// reading while more than `backlogLimit` octets wait for the disk.
///
/// Owned by one session until it is handed to `MailQueue.commit`, which
/// takes it over (hence `@unchecked Sendable`: never shared, only moved;
/// what the writer queue touches is behind its lock).
public final class Spool: @unchecked Sendable {
    public let id: QueueID
    let path: String
    let memoryLimit: Int
    /// A ByteBuffer, not an array: the first delivery attempt sends a view
    /// of it, with no copy (issue #15).
    private(set) var buffer: ByteBuffer
    public private(set) var size = 0
    /// Made when the body first outgrows memory.
    private var writer: Writer?
    /// The body as committed when it never left memory (set by the
    /// committer before the completion runs), so the first delivery attempt
    /// can send it without reading the file back (issue #15).
    public private(set) var committedBytes: ByteBuffer?
    /// Set by the server when every spooled line is plain (see
    /// `HeldBody.isPlain`); travels with `committedBytes`.
    public var contentIsPlain = false
    /// `committedBytes` with what the server knows of its lines.
    public var committedBody: HeldBody? { committedBytes.map { HeldBody(bytes: $0, isPlain: contentIsPlain) } }
    /// Counts this body among those still arriving until it is committed or
    /// thrown away (the committer's commit delay looks at the count).
    private var arriving: ArrivingBodies?

    /// The file side: one serial queue per large body, so its blocks land
    /// in order without a thread of the event loop waiting for them.
    final class Writer: Sendable {
        struct State {
            var fd: Int32 = -1
            var failed: QueueIOError?
            var pending = 0
        }

        let queue = DispatchQueue(label: "postern.spool")
        let state = Mutex(State())
        let path: String

        init(path: String) {
            self.path = path
        }

        deinit {
            state.withLock { if $0.fd >= 0 { close($0.fd) } }
        }

        func write(_ block: ByteBuffer) {
            let count = block.readableBytes
            state.withLock { $0.pending += count }
            queue.async { [self] in
                let fd: Int32? = state.withLock { $0.failed == nil ? $0.fd : nil }
                guard var fd else { return state.withLock { $0.pending -= count } }
                do throws(QueueIOError) {
                    if fd < 0 {
                        fd = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_EXCL)
                        state.withLock { [fd] in $0.fd = fd }
                    }
                    try FileIO.writeAll(fd, block, path: path)
                    state.withLock { $0.pending -= count }
                } catch {
                    state.withLock {
                        $0.failed = error
                        $0.pending -= count
                    }
                }
            }
        }

        /// Waits for every block handed over so far (committer thread, or a
        /// task: never an event loop).
        func drain() -> (fd: Int32, failed: QueueIOError?) {
            queue.sync {}
            return state.withLock { ($0.fd, $0.failed) }
        }
    }

    /// The body never left memory (the committer may journal it).
    var isInMemory: Bool { writer == nil }

    /// Octets waiting for the disk above which the session stops reading.
    public var backlogLimit: Int { memoryLimit * 4 }

    init(id: QueueID, path: String, memoryLimit: Int, arriving: ArrivingBodies? = nil) {
        self.id = id
        self.path = path
        self.memoryLimit = memoryLimit
        buffer = ByteBufferAllocator().buffer(capacity: min(memoryLimit, 16384))
        arriving?.count.add(1, ordering: .relaxed)
        self.arriving = arriving
    }

    deinit { arrived(waking: true) }

    /// The body is complete (its content checks may still run), handed to
    /// the committer, or thrown away: commits no longer wait for it. Once
    /// is enough; later calls do nothing.
    public func arrived() {
        arrived(waking: true)
    }

    /// `waking: false` when a commit of this body follows at once: its
    /// enqueue wakes the committer, and waking it first would let it stop
    /// waiting before the body is there.
    func arrived(waking: Bool) {
        guard let arriving else { return }
        self.arriving = nil
        if arriving.count.subtract(1, ordering: .relaxed).newValue == 0 && waking { arriving.wake.signal() }
    }

    /// Appends bytes. Errors are remembered and reported at commit, so the
    /// client still gets its one reply after the end of data (451).
    public func append(_ bytes: UnsafeRawBufferPointer) {
        size += bytes.count
        buffer.writeBytes(bytes)
        if buffer.readableBytes >= memoryLimit { flushToFile() }
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func append(_ string: String) {
        var copy = string
        copy.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    private func flushToFile() {
        let block = buffer
        buffer = ByteBufferAllocator().buffer(capacity: memoryLimit)
        let writer = self.writer ?? Writer(path: path)
        self.writer = writer
        writer.write(block)
    }

    /// More than `backlogLimit` octets wait for the disk: stop reading
    /// and call `whenWritten`.
    public var isBacklogged: Bool {
        writer.map { $0.state.withLock { $0.pending } > backlogLimit } ?? false
    }

    /// Runs `body` on the writer's queue once what was handed over so far
    /// is written (at once, there, when nothing is pending).
    public func whenWritten(_ body: @Sendable @escaping () -> Void) {
        guard let writer else { return body() }
        writer.queue.async(execute: body)
    }

    /// Called by the committer: the body, then `suffix` (the record's
    /// envelope and trailer) on disk in `incoming/`, optionally fsync'd, file
    /// closed. A body still in memory goes out with its suffix in one write.
    /// A body still in memory is written over a spare record when there is
    /// one (`spares`, renamed in as `name` in directory `incoming`), cut to
    /// its new length, instead of into a new file.
    func finish(appending suffix: [UInt8], fsync: Bool, spares: SpareFiles? = nil, incoming: Int32 = -1) throws(QueueIOError) {
        var fd: Int32 = -1
        if let writer {
            let drained = writer.drain()
            if let failed = drained.failed { throw failed }
            fd = drained.fd
            writer.state.withLock { $0.fd = -1 }
        }
        defer { if fd >= 0 { close(fd) } }
        var spareSize: Int?
        if fd < 0, let spares, let size = spares.take(as: "\(id).msg", into: incoming) {
            do {
                fd = try FileIO.open(path, flags: O_WRONLY)
                spareSize = size
            } catch {
                unlink(path) // an unusable spare (e.g. another owner's): a new file instead
            }
        }
        if fd < 0 { fd = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_EXCL) }
        // One writev for body and suffix: no copy of the body to join them.
        try FileIO.writeAll(fd, buffer, suffix, path: path)
        // Cut only a spare longer than the new record: one no shorter is
        // now exactly its length (a system call less per relayed message).
        let length = buffer.readableBytes + suffix.count
        if let spareSize, spareSize > length, ftruncate(fd, off_t(length)) != 0 {
            throw QueueIOError(operation: "ftruncate", path: path, errno: errno)
        }
        if writer == nil { committedBytes = buffer }
        buffer = ByteBuffer()
        if fsync { try FileIO.fsync(fd, path: path) }
    }

    /// The message so far, for content checks before the commit: its
    /// bytes while it is still in memory, else the path of the file with
    /// everything written out. Waits for the disk without holding a thread.
    public func contentForReading() async throws(QueueIOError) -> (bytes: [UInt8]?, path: String?) {
        guard let writer else { return (Array(buffer.readableBytesView), nil) }
        if buffer.readableBytes > 0 { flushToFile() }
        let failed: QueueIOError? = await withCheckedContinuation { done in
            writer.queue.async { done.resume(returning: writer.state.withLock { $0.failed }) }
        }
        if let failed { throw failed }
        return (nil, path)
    }

    /// Reads the file `contentForReading` named, from `offset`, in blocks:
    /// for work over the whole message that must not hold it (DKIM signing).
    public static func forEachBlock(path: String, offset: Int,
                                    _ body: (UnsafeRawBufferPointer) throws(QueueIOError) -> Void) throws(QueueIOError) {
        try FileIO.forEachBlock(path, offset: offset, body)
    }

    /// Throws the body away (refused message, or failed commit).
    public func discard() {
        arrived()
        buffer = ByteBuffer()
        guard let writer else {
            unlink(path)
            return
        }
        let path = self.path
        writer.queue.async {
            writer.state.withLock {
                if $0.fd >= 0 { close($0.fd) }
                $0.fd = -1
            }
            unlink(path)
        }
    }
}

/// How many message bodies are arriving now (DATA or BDAT begun, not yet
/// committed or refused): PostgreSQL's commit_siblings, for the commit delay.
final class ArrivingBodies: Sendable {
    let count = Atomic<Int>(0)
    /// Wakes a committer in its commit delay: a commit, or none arriving.
    let wake = DispatchSemaphore(value: 0)
}
