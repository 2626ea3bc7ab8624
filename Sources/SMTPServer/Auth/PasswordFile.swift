#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization
import NIOCore

/// The outcome of checking one SMTP AUTH login (RFC 4954 §6: `unavailable` is
/// the server's fault, answered 454 4.7.0, not the client's 535 5.7.8).
public enum AuthCheck: Sendable, Equatable {
    case valid
    case invalid
    case unavailable(String)
}

public enum PasswordFileError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidUserName(String)
    case invalidHash
    case io(operation: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidUserName(let name):
            "invalid user name \(String(reflecting: name)): it must be non-empty, at most 255 bytes, "
                + "not start with '#', and hold no ':', whitespace or control characters"
        case .invalidHash: "invalid hash: it must be non-empty, with no ':', whitespace or control characters"
        case .io(let operation, let path, let code): "\(operation) \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// A passwd-style file of `user:hash` lines with crypt(3) hashes. Blank lines and
/// `#` comments are skipped, fields after the hash ignored (so shadow lines work),
/// and the first line for a user wins. The file is read again whenever it changes.
public final class PasswordFile: Sendable {
    public let path: String

    /// What one reading of the file held, and how to tell it has changed.
    private struct Snapshot: Sendable {
        var stamp: FileStamp
        var hashes: [String: String]
        /// A real hash of the file's, checked for unknown users so they cost the same.
        var decoy: String
    }

    private let cache = Mutex<Snapshot?>(nil)

    /// crypt is CPU-bound (yescrypt tens of ms): keep it off the event loops.
    private static let cryptQueue = DispatchQueue(label: "postern.auth.crypt", attributes: .concurrent)
    /// The decoy when the file has no usable hash of its own.
    private static let fallbackDecoy = (try? PasswordHash.make(password: "postern timing decoy")) ?? "*"
    /// Refuse to load anything bigger than this as a password file.
    static let maxFileBytes = 16 << 20

    public init(path: String) {
        self.path = path
    }

    /// Checks `password` for `user` (compared exactly) on a background queue.
    public func verify(user: String, password: String) async -> AuthCheck {
        await withCheckedContinuation { continuation in
            Self.cryptQueue.async {
                continuation.resume(returning: self.verifyNow(user: user, password: password))
            }
        }
    }

    /// The same for a channel handler: the future completes on `eventLoop`.
    public func verify(user: String, password: String, on eventLoop: any EventLoop) -> EventLoopFuture<AuthCheck> {
        let promise = eventLoop.makePromise(of: AuthCheck.self)
        Self.cryptQueue.async { promise.succeed(self.verifyNow(user: user, password: password)) }
        return promise.futureResult
    }

    private func verifyNow(user: String, password: String) -> AuthCheck {
        let snapshot: Snapshot
        switch load() {
        case .success(let loaded): snapshot = loaded
        case .failure(let error): return .unavailable(error.description)
        }
        guard let hash = snapshot.hashes[user], Self.isUsableHash(hash) else {
            _ = PasswordHash.verify(password: password, hash: snapshot.decoy)
            return .invalid
        }
        return PasswordHash.verify(password: password, hash: hash) ? .valid : .invalid
    }

    /// The cached snapshot if the file's identity, size and mtime are unchanged, else a fresh one.
    private func load() -> Result<Snapshot, PasswordFileError> {
        var info = stat()
        guard stat(path, &info) == 0 else { return .failure(.io(operation: "stat", path: path, errno: errno)) }
        if let cached = cache.withLock({ $0 }), cached.stamp == FileStamp(info) { return .success(cached) }
        do throws(PasswordFileError) {
            let (bytes, opened) = try FileAccess.contents(of: path, limit: Self.maxFileBytes)
            var hashes: [String: String] = [:]
            var decoy: String?
            for entry in Self.splitLines(bytes).compactMap({ Entry($0[...]) }) where hashes[entry.user] == nil {
                hashes[entry.user] = entry.hash
                if decoy == nil, Self.isUsableHash(entry.hash) { decoy = entry.hash }
            }
            let snapshot = Snapshot(stamp: FileStamp(opened), hashes: hashes, decoy: decoy ?? Self.fallbackDecoy)
            cache.withLock { $0 = snapshot }
            return .success(snapshot)
        } catch {
            return .failure(error)
        }
    }

    /// A hash that can match at all: not empty, not locked ("*", "!" as in shadow(5)).
    private static func isUsableHash(_ hash: String) -> Bool {
        !hash.isEmpty && !hash.hasPrefix("*") && !hash.hasPrefix("!")
    }

    /// Non-empty, at most 255 bytes (RFC 4616 §2), no ':', whitespace or control
    /// characters, and no leading '#' (it would read back as a comment).
    public static func isValidUserName(_ user: String) -> Bool {
        !user.isEmpty && user.utf8.count <= 255 && !user.hasPrefix("#") && isPlainField(user)
    }

    private static func isPlainField(_ field: String) -> Bool {
        field.unicodeScalars.allSatisfy { scalar in
            scalar != ":" && !scalar.properties.isWhitespace && scalar.properties.generalCategory != .control
        }
    }

    // MARK: - Editing

    public enum EntryChange: Sendable, Equatable {
        case added, changed
    }

    /// Sets `user`'s hash, replacing the first line for the user (dropping later
    /// duplicates, keeping any fields after the hash) or appending one; comments and
    /// other lines stay as they are. Creates the file, mode 0600, if it is missing.
    @discardableResult
    public static func setEntry(path: String, user: String, hash: String) throws(PasswordFileError) -> EntryChange {
        guard isValidUserName(user) else { throw .invalidUserName(user) }
        guard !hash.isEmpty, isPlainField(hash) else { throw .invalidHash }
        let existing = try FileAccess.readIfPresent(path, limit: maxFileBytes)
        var change = EntryChange.added
        var lines = (existing.map { splitLines($0.bytes) } ?? []).compactMap { line -> String? in
            guard let entry = Entry(line[...]), entry.user == user else { return line }
            if change == .changed { return nil } // a later duplicate
            change = .changed
            return ([user, hash] + entry.extraFields).joined(separator: ":")
        }
        if change == .added { lines.append("\(user):\(hash)") }
        try FileAccess.replace(path, contents: joinLines(lines), like: existing?.info)
        return change
    }

    /// Deletes every line for `user`; false when there was none (or no file).
    public static func removeEntry(path: String, user: String) throws(PasswordFileError) -> Bool {
        guard isValidUserName(user) else { throw .invalidUserName(user) }
        guard let existing = try FileAccess.readIfPresent(path, limit: maxFileBytes) else { return false }
        let lines = splitLines(existing.bytes)
        let kept = lines.filter { Entry($0[...])?.user != user }
        guard kept.count < lines.count else { return false }
        try FileAccess.replace(path, contents: joinLines(kept), like: existing.info)
        return true
    }

    /// Lines split at LF only (a CR stays with its line and is trimmed as whitespace).
    private static func splitLines(_ bytes: [UInt8]) -> [String] {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    private static func joinLines(_ lines: [String]) -> [UInt8] {
        Array(lines.map { $0 + "\n" }.joined().utf8)
    }
}

/// One `user:hash[:more…]` line; nil for blank lines, comments and lines without a hash field.
private struct Entry {
    var user: String
    var hash: String
    var extraFields: [String]

    init?(_ line: Substring) {
        let trimmed = line.trimmingWhitespace()
        guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return nil }
        let fields = trimmed.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count >= 2 else { return nil }
        user = String(fields[0].trimmingWhitespace())
        hash = String(fields[1].trimmingWhitespace())
        extraFields = fields.dropFirst(2).map(String.init)
        guard !user.isEmpty else { return nil }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
        return self[start..<end]
    }
}

/// Identity, size and mtime: a rename gives a new inode, an edit in place a new mtime or size.
private struct FileStamp: Equatable, Sendable {
    var device: UInt64, inode: UInt64, size: Int64, seconds: Int64, nanoseconds: Int64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        #if canImport(Darwin)
        (seconds, nanoseconds) = (Int64(info.st_mtimespec.tv_sec), Int64(info.st_mtimespec.tv_nsec))
        #else
        (seconds, nanoseconds) = (Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec))
        #endif
    }
}

/// The few POSIX calls the password file needs; EINTR retried.
private enum FileAccess {
    static func contents(of path: String, limit: Int) throws(PasswordFileError) -> ([UInt8], stat) {
        let fd = try openRetrying(path, O_RDONLY)
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(operation: "fstat", path: path, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .io(operation: "read", path: path, errno: EINVAL) }
        guard Int(info.st_size) <= limit else { throw .io(operation: "read", path: path, errno: EFBIG) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw .io(operation: "read", path: path, errno: errno) }
            if count == 0 { return (bytes, info) }
            bytes += chunk[0..<count]
            guard bytes.count <= limit else { throw .io(operation: "read", path: path, errno: EFBIG) }
        }
    }

    /// The file's bytes and stat, or nil when it does not exist.
    static func readIfPresent(_ path: String, limit: Int) throws(PasswordFileError) -> (bytes: [UInt8], info: stat)? {
        do throws(PasswordFileError) {
            let (bytes, info) = try contents(of: path, limit: limit)
            return (bytes, info)
        } catch .io(operation: "open", path: _, errno: ENOENT) {
            return nil
        }
    }

    /// Writes a temporary file beside `path`, fsyncs it, renames it over `path` and
    /// fsyncs the directory. Keeps the old file's mode and owner when there was one.
    static func replace(_ path: String, contents: [UInt8], like original: stat?) throws(PasswordFileError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = "\(directory)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = try openRetrying(temporary, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        do throws(PasswordFileError) {
            try writeAll(fd, contents, path: temporary)
            if let original {
                _ = fchown(fd, original.st_uid, original.st_gid) // only root may give files away
                guard fchmod(fd, original.st_mode & 0o7777) == 0 else {
                    throw .io(operation: "chmod", path: temporary, errno: errno)
                }
            }
            guard fsync(fd) == 0 else { throw .io(operation: "fsync", path: temporary, errno: errno) }
            guard close(fd) == 0 else { throw .io(operation: "close", path: temporary, errno: errno) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .io(operation: "rename", path: path, errno: code)
        }
        let directoryFD = try openRetrying(directory, O_RDONLY | O_DIRECTORY)
        defer { close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw .io(operation: "fsync", path: directory, errno: errno) }
    }

    private static func openRetrying(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(PasswordFileError) -> Int32 {
        while true {
            let fd = open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw .io(operation: "open", path: path, errno: errno) }
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(PasswordFileError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written >= 0 else { throw .io(operation: "write", path: path, errno: errno) }
            offset += written
        }
    }
}
