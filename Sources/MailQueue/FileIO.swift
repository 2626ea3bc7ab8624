#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import NIOCore

/// A failed system call, with the path it concerned.
public struct QueueIOError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var path: String
    public var errno: Int32

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(errno)))"
    }
}

/// Thin wrappers over the POSIX calls the queue needs; EINTR retried.
enum FileIO {
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o600, at dirfd: Int32 = AT_FDCWD) throws(QueueIOError) -> Int32 {
        while true {
            let fd = openat(dirfd, path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw QueueIOError(operation: "open", path: path, errno: errno) }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(QueueIOError) {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw QueueIOError(operation: "write", path: path, errno: errno)
            }
            offset += n
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(QueueIOError) {
        let result: Result<Void, QueueIOError> = bytes.withUnsafeBytes { raw in
            do throws(QueueIOError) { try writeAll(fd, raw, path: path); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    static func writeAll(_ fd: Int32, _ buffer: ByteBuffer, path: String) throws(QueueIOError) {
        try writeAll(fd, buffer, [], path: path)
    }

    /// `first` then `second` with writev, resumed after a short write.
    static func writeAll(_ fd: Int32, _ first: ByteBuffer, _ second: [UInt8], path: String) throws(QueueIOError) {
        let result: Result<Void, QueueIOError> = first.withUnsafeReadableBytes { head in
            second.withUnsafeBytes { tail in
                var parts = [head, tail]
                while let next = parts.firstIndex(where: { $0.count > 0 }) {
                    var vectors = parts[next...].map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
                    var written = writev(fd, &vectors, Int32(vectors.count))
                    if written < 0 {
                        if errno == EINTR { continue }
                        return .failure(QueueIOError(operation: "write", path: path, errno: errno))
                    }
                    for index in next..<parts.count where written > 0 {
                        let taken = min(written, parts[index].count)
                        parts[index] = UnsafeRawBufferPointer(rebasing: parts[index][taken...])
                        written -= taken
                    }
                }
                return .success(())
            }
        }
        try result.get()
    }

    /// `bytes` at `offset` of an open file, resumed after a short write:
    /// `read(_:count:at:path:)`'s other half.
    static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>, at offset: Int, path: String) throws(QueueIOError) {
        let result: Result<Void, QueueIOError> = bytes.withUnsafeBytes { raw in
            do throws(QueueIOError) { try writeAll(fd, [raw], at: offset, path: path); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// `parts` one after another at `offset` (pwritev, at most 1,024
    /// vectors a call: Linux's UIO_MAXIOV), resumed after a short write: a batch's records go
    /// out without first being copied into one buffer.
    static func writeAll(_ fd: Int32, _ parts: [UnsafeRawBufferPointer], at offset: Int, path: String) throws(QueueIOError) {
        var vectors = parts.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        var first = 0, position = offset
        while first < vectors.count {
            let count = Int32(min(vectors.count - first, 1024))
            let written = vectors.withUnsafeBufferPointer { pwritev(fd, $0.baseAddress! + first, count, off_t(position)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw QueueIOError(operation: "write", path: path, errno: errno)
            }
            position += written
            var left = written
            while first < vectors.count, left >= vectors[first].iov_len {
                left -= vectors[first].iov_len
                first += 1
            }
            if left > 0 {
                vectors[first].iov_base += left
                vectors[first].iov_len -= left
            }
        }
    }

    static func fsync(_ fd: Int32, path: String) throws(QueueIOError) {
        #if canImport(Darwin)
        let result = fcntl(fd, F_FULLFSYNC)
        #else
        let result = Glibc.fsync(fd)
        #endif
        if result != 0 { throw QueueIOError(operation: "fsync", path: path, errno: errno) }
    }

    /// The file's octets from `offset`, at most `limit` of them.
    static func readAll(_ path: String, offset: Int = 0, limit: Int = .max) throws(QueueIOError) -> [UInt8] {
        var result: [UInt8] = []
        try forEachBlock(path, offset: offset, limit: limit) { result += $0 }
        return result
    }

    /// `count` octets at `offset` of an open file (fewer only at its end).
    static func read(_ fd: Int32, count: Int, at offset: Int, path: String) throws(QueueIOError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw QueueIOError(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        bytes.removeLast(count - done)
        return bytes
    }

    /// Makes a rename or unlink in `path` durable (the directory entry).
    static func syncDirectory(_ path: String) throws(QueueIOError) {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    /// Hands the file's octets from `offset` (at most `limit` of them) to
    /// `body` in blocks, so a large message is never held whole.
    static func forEachBlock(_ path: String, offset: Int = 0, limit: Int = .max,
                             _ body: (UnsafeRawBufferPointer) throws(QueueIOError) -> Void) throws(QueueIOError) {
        let fd = try open(path, flags: O_RDONLY)
        defer { close(fd) }
        // Not zero-filled: pread writes what is read and only that is handed
        // on. Zeroing 64 KiB for every envelope read was 3 % of the
        // instructions per relayed message (bench/README.md, cost budget).
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { chunk.deallocate() }
        var position = off_t(offset)
        var left = limit
        while left > 0 {
            let wanted = min(chunk.count, left)
            let n = pread(fd, chunk.baseAddress, wanted, position)
            if n < 0 {
                if errno == EINTR { continue }
                throw QueueIOError(operation: "read", path: path, errno: errno)
            }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            position += off_t(n)
            left -= n
        }
    }

    /// The file's size in octets.
    static func size(_ path: String) throws(QueueIOError) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw QueueIOError(operation: "stat", path: path, errno: errno) }
        return Int(info.st_size)
    }

    /// mkdir -p, mode 0700 for what it creates; returns the directories
    /// it made, outermost first. A path that exists but is no directory
    /// is an error (ENOTDIR), not a success.
    @discardableResult
    static func makeDirectory(_ path: String) throws(QueueIOError) -> [String] {
        if mkdir(path, 0o700) == 0 { return [path] }
        if errno == EEXIST {
            guard try isDirectory(path) else { throw QueueIOError(operation: "mkdir", path: path, errno: ENOTDIR) }
            return []
        }
        guard errno == ENOENT else { throw QueueIOError(operation: "mkdir", path: path, errno: errno) }
        let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        guard !parent.isEmpty, parent != path else { throw QueueIOError(operation: "mkdir", path: path, errno: ENOENT) }
        let made = try makeDirectory(parent)
        if mkdir(path, 0o700) == 0 { return made + [path] }
        guard errno == EEXIST else { throw QueueIOError(operation: "mkdir", path: path, errno: errno) }
        return made
    }

    private static func isDirectory(_ path: String) throws(QueueIOError) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { throw QueueIOError(operation: "stat", path: path, errno: errno) }
        return info.st_mode & S_IFMT == S_IFDIR
    }

    /// Names in a directory, without "." and "..".
    static func list(_ path: String) throws(QueueIOError) -> [String] {
        guard let dir = opendir(path) else { throw QueueIOError(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
