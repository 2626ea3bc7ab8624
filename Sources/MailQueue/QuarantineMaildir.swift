import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The quarantine: a Maildir (https://cr.yp.to/proto/maildir.html) that any
/// MUA reads (`mutt -f DIR`, Python's `mailbox.Maildir`), one file per
/// quarantined message: `QuarantineRecord`'s fields, then the message as it
/// would have been delivered.
///
///     DIR/tmp/   files being written
///     DIR/new/   quarantined messages (a MUA moves the ones it has seen to cur/)
///     DIR/cur/
///
/// A file goes in as `Maildir.deliver` puts it (tmp/, fsync, new/, fsync
/// of new/): a promise like a 250, made before the message leaves the
/// queue. Its name carries
/// the queue ID (`<seconds>.<queue ID>_P<pid>.<host>,S=<size>`), so a
/// message moved again after a crash is found in new/ or cur/, not written twice.
public struct QuarantineMaildir: Sendable {
    /// One stage of `store`, for tests that stop it half way (a crash).
    public typealias Step = Maildir.Step

    public struct Entry: Sendable, Equatable {
        /// The quarantine ID: the queue ID the message had.
        public var id: QueueID
        public var path: String
        /// When it was quarantined (the name's seconds).
        public var date: Date

        public init(id: QueueID, path: String, date: Date) {
            self.id = id
            self.path = path
            self.date = date
        }
    }

    public enum StoreResult: Sendable, Equatable {
        case stored(Entry)
        /// A file for this queue ID was there already (an earlier move that
        /// did not get to remove the queue entry).
        case alreadyThere(Entry)
    }

    public let directory: String
    let maildir: Maildir
    /// The host part of new file names (`Maildir.nameSafe`).
    let hostname: String
    let observe: @Sendable (Step) throws -> Void

    public init(directory: String, hostname: String = "localhost",
                observe: @escaping @Sendable (Step) throws -> Void = { _ in }) {
        self.directory = directory
        maildir = Maildir(directory: directory)
        self.hostname = Maildir.nameSafe(hostname: hostname)
        self.observe = observe
    }

    var newPath: String { maildir.newPath }
    var curPath: String { maildir.curPath }
    var tmpPath: String { maildir.tmpPath }

    /// Makes the directories if they are missing; all of them mode 0700
    /// (the quarantine is the daemon's alone).
    public func create() throws(QueueIOError) {
        try maildir.create()
        for path in [directory, newPath, curPath, tmpPath] { chmod(path, 0o700) }
    }

    /// Removes what a move left in tmp/ when it stopped half way (only our
    /// own names: a MUA may deliver here too). Call only when no move runs.
    public func removeUnfinished() throws(QueueIOError) {
        for name in try FileIO.list(tmpPath) where Self.parse(name: name) != nil { unlink(tmpPath + "/" + name) }
    }

    /// Every quarantined message, oldest first; none when the Maildir does
    /// not exist yet. Names that are not ours (a MUA's) are left out.
    public func entries() throws(QueueIOError) -> [Entry] {
        var entries: [Entry] = []
        for directory in [newPath, curPath] {
            guard access(directory, F_OK) == 0 else { continue }
            for name in try FileIO.list(directory) {
                guard let (id, date) = Self.parse(name: name) else { continue }
                entries.append(Entry(id: id, path: directory + "/" + name, date: date))
            }
        }
        return entries.sorted { ($0.id, $0.path) < ($1.id, $1.path) }
    }

    public func entry(id: QueueID) throws(QueueIOError) -> Entry? {
        try entries().first { $0.id == id }
    }

    /// Writes the message durably under `record.id` unless a file for that
    /// ID is there already. `addedHeaders` and `body` are the message as
    /// it would be delivered.
    public func store(_ record: QuarantineRecord, addedHeaders: [String], body: QueuedBody) throws(QueueIOError) -> StoreResult {
        if let existing = try entry(id: record.id) { return .alreadyThere(existing) }
        let fields = record.headerFields + Array(addedHeaders.joined().utf8)
        var end = body.end ?? 0
        if body.end == nil { end = try FileIO.size(body.path) }
        let bodySize = end - body.offset
        let name = Self.name(id: record.id, date: record.date, size: fields.count + bodySize, hostname: hostname)
        let target = try maildir.deliver(name: name, head: fields, body: body, observe: observe)
        return .stored(Entry(id: record.id, path: target, date: record.date))
    }

    /// Replaces a file by one whose record is `record` (fewer recipients:
    /// some were released or dropped by their user), same message, same
    /// directory and flags. The new file is durable before the old one
    /// goes; a crash between the two leaves both, and
    /// `removeSuperseded` keeps the one with fewer recipients.
    public func rewrite(_ entry: Entry, record: QuarantineRecord, messageOffset: Int) throws(QueueIOError) -> Entry {
        let fields = record.headerFields
        let size = fields.count + (try FileIO.size(entry.path)) - messageOffset
        let slash = entry.path.lastIndex(of: "/")!
        let directory = String(entry.path[..<slash])
        let info = entry.path[slash...].firstIndex(of: ":").map { String(entry.path[$0...]) } ?? ""
        let name = Self.name(id: record.id, date: entry.date, size: size, hostname: hostname)
        let temporary = tmpPath + "/" + name
        let fd = try FileIO.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try FileIO.writeAll(fd, fields, path: temporary)
            try FileIO.forEachBlock(entry.path, offset: messageOffset) { block throws(QueueIOError) in
                try FileIO.writeAll(fd, block, path: temporary)
            }
            try FileIO.fsync(fd, path: temporary)
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        let target = directory + "/" + name + info
        guard rename(temporary, target) == 0 else {
            let error = QueueIOError(operation: "rename", path: target, errno: errno)
            unlink(temporary)
            throw error
        }
        try FileIO.syncDirectory(directory)
        if target != entry.path { try remove(entry) }
        return Entry(id: record.id, path: target, date: entry.date)
    }

    /// After a crash inside `rewrite`, two files may hold one quarantine
    /// ID: the one with fewer recipients is the later; the others go.
    /// Call only when no move runs.
    public func removeSuperseded() throws {
        let byID = Dictionary(grouping: try entries(), by: \.id).filter { $0.value.count > 1 }
        for (_, entries) in byID {
            let ranked = try entries.map { ($0, try read($0).record.recipients.count) }.sorted { $0.1 < $1.1 }
            for (entry, _) in ranked.dropFirst() { try remove(entry) }
        }
    }

    /// The record at the top of a quarantine file, and where the message starts.
    public func read(_ entry: Entry) throws -> (record: QuarantineRecord, messageOffset: Int) {
        // The fields are small; a message with thousands of recipients needs more.
        var limit = 16_384
        while true {
            let start = try FileIO.readAll(entry.path, limit: limit)
            let parsed = Result { () throws(QuarantineRecord.ParseError) in
                try QuarantineRecord.parse(start, fileDate: entry.date)
            }
            switch parsed {
            case .success(let parsed):
                return (parsed.record, parsed.length)
            case .failure(.incomplete) where start.count == limit && limit < 4 << 20:
                limit = 4 << 20
            case .failure(let error):
                throw error
            }
        }
    }

    /// The message as it was queued: the file from `offset`, in blocks.
    public func forEachBlock(of entry: Entry, from offset: Int,
                             _ body: (UnsafeRawBufferPointer) throws(QueueIOError) -> Void) throws(QueueIOError) {
        try FileIO.forEachBlock(entry.path, offset: offset, body)
    }

    public func contents(of entry: Entry, from offset: Int = 0) throws(QueueIOError) -> [UInt8] {
        try FileIO.readAll(entry.path, offset: offset)
    }

    public func size(of entry: Entry) throws(QueueIOError) -> Int {
        try FileIO.size(entry.path)
    }

    /// Removes a file for good: the directory is synced, so a crash cannot
    /// bring back a message that was released (and delivered twice).
    public func remove(_ entry: Entry) throws(QueueIOError) {
        guard unlink(entry.path) == 0 else { throw QueueIOError(operation: "unlink", path: entry.path, errno: errno) }
        try FileIO.syncDirectory(String(entry.path[..<entry.path.lastIndex(of: "/")!]))
    }

    /// `<seconds>.<queue ID>_P<pid>.<host>,S=<size>` (Maildir's unique name,
    /// with Maildir++'s size).
    static func name(id: QueueID, date: Date, size: Int, hostname: String) -> String {
        "\(Int64(date.timeIntervalSince1970)).\(id)_P\(getpid()).\(hostname),S=\(size)"
    }

    /// The queue ID and date in one of our names (in new/, cur/ with a
    /// ":2,FLAGS" info part, or tmp/); nil for any other name.
    public static func parse(name: String) -> (id: QueueID, date: Date)? {
        let base = name.prefix { $0 != ":" }
        let parts = base.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let seconds = Int64(parts[0]), seconds >= 0,
              let id = QueueID(parts[1].prefix { $0 != "_" }) else { return nil }
        return (id, Date(timeIntervalSince1970: Double(seconds)))
    }
}
