import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One Maildir with what IMAP needs on top: stable UIDs, a UIDVALIDITY,
/// flags in the names' info part (":2,DFRST"), and which messages no
/// session has seen yet (still in new/).
///
/// UIDs live in `postern-uidlist` in the Maildir (Dovecot's
/// dovecot-uidlist is the model; its own file is left alone, so both
/// servers can read one Maildir):
///
///     postern-uidlist 1 <uidvalidity> <uidnext>
///     <uid> <base name>
///     …
///
/// The file is rewritten (temporary file, fsync, rename) whenever a scan
/// finds a new or vanished name. If it is lost, a new UIDVALIDITY tells
/// clients to forget what they cached (RFC 3501 §2.3.1.1).
///
/// One instance per directory and process (`MaildirFolder.shared`), so
/// sessions agree; a lock makes each scan and rename atomic for them.
public final class MaildirFolder: Sendable {
    public struct Message: Sendable, Equatable {
        public var uid: UInt32
        /// Path as of the last scan (new/… or cur/…).
        public var path: String
        public var baseName: String
        public var flags: MessageFlags
        public var size: Int
        public var date: Date
        public var isNew: Bool
    }

    public struct Snapshot: Sendable {
        public var uidValidity: UInt32
        public var uidNext: UInt32
        /// Ascending by UID.
        public var messages: [Message]
    }

    struct State {
        var uidValidity: UInt32 = 0
        var uidNext: UInt32 = 1
        var uids: [String: UInt32] = [:]
        var loaded = false
    }

    public let directory: String
    /// Names this folder serves; the quarantine passes its own test so a
    /// MUA's stray files are not shown half-parsed. Default: every name.
    let accepts: @Sendable (String) -> Bool
    private let state = Mutex(State())

    static let listName = "postern-uidlist"
    private static let registry = Mutex<[String: MaildirFolder]>([:])

    init(directory: String, accepts: @escaping @Sendable (String) -> Bool) {
        self.directory = directory
        self.accepts = accepts
    }

    /// The folder object for `directory`, made on first use.
    public static func shared(_ directory: String,
                              accepts: @escaping @Sendable (String) -> Bool = { _ in true }) -> MaildirFolder {
        registry.withLock { folders in
            if let folder = folders[directory] { return folder }
            let folder = MaildirFolder(directory: directory, accepts: accepts)
            folders[directory] = folder
            return folder
        }
    }

    var newPath: String { directory + "/new" }
    var curPath: String { directory + "/cur" }

    /// Lists new/ and cur/, gives new names UIDs (oldest first) and drops
    /// vanished ones. Messages still in new/ come back with `isNew` set;
    /// `claim` moves one to cur/. A Maildir that does not exist yet is empty.
    public func scan() throws(MailStoreError) -> Snapshot {
        try state.withLock { state throws(MailStoreError) in
            if !state.loaded { try load(&state) }
            var found: [(base: String, name: String, inNew: Bool)] = []
            for (dir, inNew) in [(newPath, true), (curPath, false)] {
                for name in try Self.list(dir) where !name.hasPrefix(".") {
                    let base = Self.baseName(name)
                    guard accepts(base) else { continue }
                    found.append((base, name, inNew))
                }
            }
            var changed = false
            let present = Set(found.map(\.base))
            for base in state.uids.keys where !present.contains(base) {
                state.uids[base] = nil
                changed = true
            }
            let unknown = found.filter { state.uids[$0.base] == nil }
                .sorted { (Self.seconds($0.base) ?? 0, $0.base) < (Self.seconds($1.base) ?? 0, $1.base) }
            for item in unknown where state.uids[item.base] == nil {
                state.uids[item.base] = state.uidNext
                state.uidNext += 1
                changed = true
            }
            if changed { try save(state) }
            var messages: [Message] = []
            for item in found {
                guard let uid = state.uids[item.base] else { continue }
                let path = (item.inNew ? newPath : curPath) + "/" + item.name
                guard let message = Self.message(uid: uid, path: path, name: item.name, isNew: item.inNew) else { continue }
                messages.append(message)
            }
            messages.sort { $0.uid < $1.uid }
            return Snapshot(uidValidity: state.uidValidity, uidNext: state.uidNext, messages: messages)
        }
    }

    /// Moves a message from new/ to cur/: true for the one caller that
    /// moved it (the session that sees it first: \Recent, RFC 3501 §2.3.2).
    public func claim(_ message: Message) -> Bool {
        state.withLock { _ in
            guard message.isNew, (try? Self.makeDirectory(curPath)) != nil else { return false }
            return rename(newPath + "/" + message.baseName, curPath + "/" + message.baseName + ":2,") == 0
        }
    }

    /// The whole file, wherever it is now.
    public func contents(_ message: Message, limit: Int = .max) throws(MailStoreError) -> [UInt8] {
        // The path of the last scan is nearly always right; listing the
        // directories for every message would make FETCH 1:* quadratic.
        switch Result(catching: { () throws(ReadError) in try Self.read(message.path, limit: limit) }) {
        case .success(let bytes): return bytes
        case .failure(.failed(let why)): throw .io(why)
        case .failure(.missing): break  // renamed (flags) or removed by another session: look for it
        }
        let path = try state.withLock { _ throws(MailStoreError) in try locate(message.baseName) }
        guard let path else { throw .noSuchMessage(message.uid) }
        switch Result(catching: { () throws(ReadError) in try Self.read(path, limit: limit) }) {
        case .success(let bytes): return bytes
        case .failure(.failed(let why)): throw .io(why)
        case .failure(.missing): throw .noSuchMessage(message.uid)
        }
    }

    enum ReadError: Error {
        /// The file is not at that path (renamed or removed since the scan).
        case missing
        case failed(String)
    }

    /// Up to `limit` octets from the start of a file.
    static func read(_ path: String, limit: Int) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw .missing }
            throw .failed("open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .failed("stat \(path): \(String(cString: strerror(errno)))") }
        let size = min(Int(info.st_size), limit)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                if count == 0 { break }
                throw .failed("read \(path): \(String(cString: strerror(errno)))")
            }
            done += count
        }
        return done == size ? bytes : Array(bytes[..<done])
    }

    /// Renames the message's file so its info part says `flags`; a file in
    /// new/ moves to cur/. Returns the new path, nil when the file is gone.
    public func setFlags(_ message: Message, _ flags: MessageFlags) throws(MailStoreError) -> String? {
        try state.withLock { _ throws(MailStoreError) in
            // The scan's path first (a STORE on 1:* must not list the directories per message).
            var current = access(message.path, F_OK) == 0 ? message.path : nil
            if current == nil { current = try locate(message.baseName) }
            guard let current else { return nil }
            let target = curPath + "/" + message.baseName + ":2," + Self.infoLetters(flags, keeping: current)
            guard current != target else { return target }
            try Self.makeDirectory(curPath)
            guard rename(current, target) == 0 else {
                if errno == ENOENT { return nil }
                throw .io("rename \(current): \(String(cString: strerror(errno)))")
            }
            return target
        }
    }

    /// Deletes the message's file and syncs the directory, so an expunged
    /// message does not come back after a crash.
    public func delete(_ message: Message) throws(MailStoreError) {
        try state.withLock { _ throws(MailStoreError) in
            guard let path = try locate(message.baseName) else { return }
            guard unlink(path) == 0 || errno == ENOENT else {
                throw .io("unlink \(path): \(String(cString: strerror(errno)))")
            }
            let directory = String(path[..<path.lastIndex(of: "/")!])
            let fd = open(directory, O_RDONLY | O_DIRECTORY)
            if fd >= 0 {
                Glibc.fsync(fd)
                close(fd)
            }
        }
    }

    /// Where the file with this base name is now (a MUA or another
    /// session may have renamed it since the caller's scan).
    private func locate(_ base: String) throws(MailStoreError) -> String? {
        for dir in [curPath, newPath] {
            for name in try Self.list(dir) where Self.baseName(name) == base {
                return dir + "/" + name
            }
        }
        return nil
    }

    // MARK: - The UID list

    private var listPath: String { directory + "/" + Self.listName }

    private func load(_ state: inout State) throws(MailStoreError) {
        state.loaded = true
        if let text = try? String(contentsOfFile: listPath, encoding: .utf8) {
            var lines = text.split(separator: "\n")
            let head = lines.isEmpty ? [] : lines.removeFirst().split(separator: " ")
            if head.count == 4, head[0] == "postern-uidlist", head[1] == "1",
               let validity = UInt32(head[2]), let next = UInt32(head[3]), validity > 0 {
                state.uidValidity = validity
                state.uidNext = next
                for line in lines {
                    let parts = line.split(separator: " ", maxSplits: 1)
                    guard parts.count == 2, let uid = UInt32(parts[0]), uid < next else { continue }
                    state.uids[String(parts[1])] = uid
                }
                return
            }
        }
        // New (or unreadable) list: a UIDVALIDITY no earlier list of this
        // folder had, as long as the clock moves forward.
        state.uidValidity = UInt32(truncatingIfNeeded: max(1, Int(Date().timeIntervalSince1970)))
        state.uidNext = 1
        state.uids = [:]
    }

    private func save(_ state: State) throws(MailStoreError) {
        guard access(directory, F_OK) == 0 else { return }
        var text = "postern-uidlist 1 \(state.uidValidity) \(state.uidNext)\n"
        for (base, uid) in state.uids.sorted(by: { $0.value < $1.value }) { text += "\(uid) \(base)\n" }
        let temporary = listPath + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw .io("open \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = Glibc.fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, listPath) == 0 else {
            let code = errno
            unlink(temporary)
            throw .io("write \(listPath): \(String(cString: strerror(code)))")
        }
    }

    // MARK: - Names

    /// The name without its info part (":2,…").
    static func baseName(_ name: String) -> String {
        String(name.prefix { $0 != ":" })
    }

    /// The leading seconds of a Maildir name, for ordering new messages.
    static func seconds(_ base: String) -> Int64? {
        Int64(base.prefix { $0 != "." })
    }

    static func flags(ofName name: String) -> MessageFlags {
        guard let range = name.range(of: ":2,") else { return [] }
        var flags: MessageFlags = []
        for letter in name[range.upperBound...] {
            switch letter {
            case "D": flags.insert(.draft)
            case "F": flags.insert(.flagged)
            case "R": flags.insert(.answered)
            case "S": flags.insert(.seen)
            case "T": flags.insert(.deleted)
            default: break
            }
        }
        return flags
    }

    /// The info letters for `flags`, in ASCII order as Maildir asks, keeping
    /// letters we do not map (P "passed", lowercase Dovecot keywords).
    static func infoLetters(_ flags: MessageFlags, keeping path: String) -> String {
        var letters = Set<Character>()
        if let range = path.range(of: ":2,") {
            letters = Set(path[range.upperBound...].filter { !"DFRST".contains($0) })
        }
        let mapped: [(MessageFlags, Character)] = [(.draft, "D"), (.flagged, "F"), (.answered, "R"), (.seen, "S"), (.deleted, "T")]
        for (flag, letter) in mapped where flags.contains(flag) { letters.insert(letter) }
        return String(letters.sorted())
    }

    /// Size from Maildir++'s ",S=" when the name has it, else from stat.
    static func message(uid: UInt32, path: String, name: String, isNew: Bool) -> Message? {
        let base = baseName(name)
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        var size = Int(info.st_size)
        if let range = base.range(of: ",S="), let stated = Int(base[range.upperBound...].prefix { $0.isNumber }) {
            size = stated
        }
        let date = seconds(base).map { Date(timeIntervalSince1970: Double($0)) }
            ?? Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec))
        return Message(uid: uid, path: path, baseName: base, flags: isNew ? [] : flags(ofName: name),
                       size: size, date: date, isNew: isNew)
    }

    static func list(_ path: String) throws(MailStoreError) -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw .io("opendir \(path): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    static func makeDirectory(_ path: String) throws(MailStoreError) {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw .io("mkdir \(path): \(String(cString: strerror(errno)))")
        }
    }
}
