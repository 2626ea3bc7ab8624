import CPosternSys
import Foundation
import Logging
import SMTPServer
#if canImport(Glibc)
import Glibc
#endif

/// Started as root, Postern binds its listeners (ports 25 and 587 need
/// root or CAP_NET_BIND_SERVICE) and then becomes `[daemon] user` before it
/// accepts a connection, opens the queue, the control socket or the TLS key,
/// as OpenSMTPD and Postfix do. Started as that user already (systemd's
/// `User=` with `AmbientCapabilities=CAP_NET_BIND_SERVICE`, a container's
/// `USER`), it only checks its directories. Started as anyone else, it
/// refuses.
enum Privileges {
    /// Binds every listener (in `config.listeners` order), then drops to
    /// `[daemon] user` when the plan says so. The sockets do not accept yet:
    /// `SMTPListener.bind(socket:)` starts that, after the drop.
    static func bindListenersThenDrop(config: PosternConfig, logger: Logger) throws -> [ListenSocket] {
        let target = try RunAs.resolve(config.daemon)
        let plan = PrivilegePlan.decide(target: target, current: .current)
        if case .refuse(let reason) = plan { throw PrivilegeError.refused(reason) }
        var sockets: [ListenSocket] = []
        do {
            // SMTP, then IMAP (plain, TLS), then POP3 (plain, TLS): `MailAccessSockets` splits them.
            for listener in config.listeners + config.imap.listeners + config.imap.tlsListeners
                + config.pop3.listeners + config.pop3.tlsListeners {
                sockets.append(try ListenSocket.bind(host: listener.host, port: listener.port))
            }
            let socketDirectory = (config.controlSocketPath as NSString).deletingLastPathComponent
            let directories = [config.queueDirectory, socketDirectory.isEmpty ? "." : socketDirectory]
            switch plan {
            case .stay, .refuse:
                if geteuid() == 0 {
                    logger.warning("running as root: set [daemon] user to drop privileges after binding")
                }
                return sockets
            case .alreadyTarget(let target):
                logger.info("running as the configured user", metadata: ["user": "\(target.user)", "uid": "\(target.uid)"])
                for directory in directories { try makeDirectory(directory, chownTo: nil) }
                try checkAccess(config: config, directories: directories, as: target)
            case .drop(let target):
                for directory in directories { try makeDirectory(directory, chownTo: target) }
                try drop(to: target)
                logger.notice("privileges dropped", metadata: [
                    "user": "\(target.user)", "uid": "\(getuid())", "gid": "\(getgid())",
                    "groups": "\(currentGroups().map(String.init).joined(separator: ","))",
                ])
                try checkAccess(config: config, directories: directories, as: target)
            }
        } catch {
            for socket in sockets { socket.close() }
            throw error
        }
        return sockets
    }

    /// setgroups, setgid, setuid, in that order (each needs the privilege the
    /// next one gives up), then proof that root cannot be had back.
    static func drop(to target: RunAs) throws(PrivilegeError) {
        // The user's supplementary groups from /etc/group, as systemd's User=
        // and initgroups(3) give them, so both ways of starting match.
        let groups = supplementaryGroups(of: target)
        guard setgroups(groups.count, groups) == 0 else { throw .callFailed("setgroups(\(groups))", errno) }
        guard setgid(target.gid) == 0 else { throw .callFailed("setgid(\(target.gid))", errno) }
        guard setuid(target.uid) == 0 else { throw .callFailed("setuid(\(target.uid))", errno) }
        // glibc passes by the main thread, which libdispatch parks inside
        // pthread_exit under Swift's async main: it would stay root, and the
        // kernel takes the process's /proc owner and signal permissions from it.
        for thread in ThreadCredentials.all() where !thread.matches(target, groups: groups) {
            let result = postern_set_thread_credentials(thread.id, target.uid, target.gid, groups, groups.count, 2000)
            guard result == 0 || result == -ESRCH else { throw .stillPrivileged("thread \(thread.id): \(String(cString: strerror(-result)))") }
        }
        if let thread = ThreadCredentials.all().first(where: { !$0.matches(target, groups: groups) }) {
            throw .stillPrivileged("thread \(thread.id) has uid \(thread.uids), gid \(thread.gids), groups \(thread.groups)")
        }
        // The saved set-user-ID is gone too only if these fail.
        guard setuid(0) != 0, seteuid(0) != 0, setgid(0) != 0 else {
            throw .stillPrivileged("setuid(0) succeeded after dropping to \(target.user)")
        }
    }

    static func supplementaryGroups(of target: RunAs) -> [gid_t] {
        var count: CInt = 64
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            let wanted = count
            if getgrouplist(target.user, target.gid, &groups, &count) >= 0 {
                return Array(groups.prefix(Int(count)))
            }
            // Too small: `count` now holds the number needed.
            if count <= wanted { count = wanted * 2 }
        }
    }

    static func currentGroups() -> [gid_t] {
        let count = getgroups(0, nil)
        guard count > 0 else { return [] }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return Array(groups.prefix(Int(max(filled, 0))))
    }

    /// A missing directory is made (mode 0750), while still root and then
    /// given to the user when dropping; an existing one is left as the
    /// operator made it.
    static func makeDirectory(_ path: String, chownTo target: RunAs?) throws(PrivilegeError) {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        } catch {
            throw .cannotCreate(path, "\(error.localizedDescription)")
        }
        guard let target else { return }
        guard chown(path, target.uid, target.gid) == 0 else { throw .cannotCreate(path, "chown: \(String(cString: strerror(errno)))") }
    }

    /// What the daemon opens after the drop must be open to the user, said
    /// now and plainly rather than as an I/O error later.
    static func checkAccess(config: PosternConfig, directories: [String], as target: RunAs) throws(PrivilegeError) {
        // A queue that ran as root before keeps root's subdirectories: say so too.
        let queueParts = ["incoming", "msg", "corrupt"].map { config.queueDirectory + "/" + $0 }
            .filter { FileManager.default.fileExists(atPath: $0) }
        for directory in directories + queueParts where access(directory, W_OK | X_OK) != 0 {
            throw .notWritable(directory, user: target.user, owner: FileOwner(path: directory))
        }
        for file in [config.tls?.certificateFile, config.tls?.keyFile].compactMap({ $0 }) where access(file, R_OK) != 0 {
            throw .notReadable(file, user: target.user)
        }
    }
}

/// One thread's IDs from /proc/self/task/TID/status: real, effective,
/// saved and filesystem uid and gid, and the supplementary groups.
struct ThreadCredentials: Sendable {
    var id: pid_t
    var uids: [UInt32] = []
    var gids: [UInt32] = []
    var groups: [UInt32] = []

    static func all() -> [ThreadCredentials] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { pid_t($0) }.compactMap { id in
            (try? String(contentsOfFile: "/proc/self/task/\(id)/status", encoding: .utf8)).map { parse(id: id, status: $0) }
        }
    }

    static func parse(id: pid_t, status: String) -> ThreadCredentials {
        var thread = ThreadCredentials(id: id)
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == ":" || $0 == "\t" || $0 == " " })
            let numbers = fields.dropFirst().compactMap { UInt32($0) }
            switch fields.first {
            case "Uid": thread.uids = numbers
            case "Gid": thread.gids = numbers
            case "Groups": thread.groups = numbers
            default: break
            }
        }
        return thread
    }

    func matches(_ target: RunAs, groups expected: [gid_t]) -> Bool {
        uids == [UInt32](repeating: target.uid, count: 4) && gids == [UInt32](repeating: target.gid, count: 4)
            && Set(groups) == Set(expected)
    }
}

/// The user and group `[daemon]` names, looked up in the user database.
struct RunAs: Sendable, Equatable {
    var user: String
    var uid: uid_t
    var gid: gid_t

    static func resolve(_ settings: PosternConfig.DaemonSettings) throws(PrivilegeError) -> RunAs? {
        guard let user = settings.user else { return nil }
        guard let entry = getpwnam(user) else { throw .unknownUser(user) }
        var gid = entry.pointee.pw_gid
        if let group = settings.group {
            guard let groupEntry = getgrnam(group) else { throw .unknownGroup(group) }
            gid = groupEntry.pointee.gr_gid
        }
        return RunAs(user: user, uid: entry.pointee.pw_uid, gid: gid)
    }
}

/// The process's real and effective IDs.
struct Identity: Sendable, Equatable {
    var uid: uid_t
    var euid: uid_t
    var gid: gid_t
    var egid: gid_t

    static var current: Identity { Identity(uid: getuid(), euid: geteuid(), gid: getgid(), egid: getegid()) }
}

/// What start-up does about `[daemon] user`, decided from the IDs alone.
enum PrivilegePlan: Sendable, Equatable {
    /// No user configured: run as started.
    case stay
    /// Started as the user and group already (systemd `User=`, container `USER`).
    case alreadyTarget(RunAs)
    /// Root: bind, then become the user.
    case drop(RunAs)
    case refuse(String)

    static func decide(target: RunAs?, current: Identity) -> PrivilegePlan {
        guard let target else { return .stay }
        if target.uid == 0 { return .refuse("[daemon] user \(target.user) is root: name an unprivileged user") }
        if current.euid == 0 { return .drop(target) }
        if current.uid == target.uid, current.euid == target.uid, current.gid == target.gid, current.egid == target.gid {
            return .alreadyTarget(target)
        }
        return .refuse("[daemon] user = \"\(target.user)\" (uid \(target.uid), gid \(target.gid)) needs postern to be "
            + "started as root, or as that user and group; it was started as uid \(current.euid), gid \(current.egid)")
    }
}

/// Owner and permission bits of a path, for error messages.
struct FileOwner: Sendable, Equatable, CustomStringConvertible {
    var uid: uid_t
    var mode: mode_t

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        uid = info.st_uid
        mode = info.st_mode & 0o7777
    }

    var description: String {
        let name = getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? "\(uid)"
        return "owner \(name), mode " + String(mode, radix: 8).leftPadded(to: 4)
    }
}

enum PrivilegeError: Error, Sendable, CustomStringConvertible {
    case unknownUser(String)
    case unknownGroup(String)
    case refused(String)
    case callFailed(String, CInt)
    case stillPrivileged(String)
    case cannotCreate(String, String)
    case notWritable(String, user: String, owner: FileOwner?)
    case notReadable(String, user: String)

    var description: String {
        switch self {
        case .unknownUser(let user): return "[daemon] user: no such user: \(user)"
        case .unknownGroup(let group): return "[daemon] group: no such group: \(group)"
        case .refused(let reason): return reason
        case .callFailed(let call, let error): return "cannot drop privileges: \(call): \(String(cString: strerror(error)))"
        case .stillPrivileged(let what): return "privileges not dropped: \(what)"
        case .cannotCreate(let path, let reason): return "cannot create \(path): \(reason)"
        case .notWritable(let path, let user, let owner):
            return "\(path) is not writable by \(user) (\(owner.map(\.description) ?? "missing")): "
                + "make it the user's (chown -R \(user) \(path)) or name another directory"
        case .notReadable(let path, let user):
            return "\(path) is not readable by \(user): give the user read access (e.g. group-readable by its group)"
        }
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
