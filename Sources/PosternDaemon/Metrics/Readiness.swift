import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `/readyz`: may a load balancer send mail here now? Only while the SMTP
/// listeners are bound (not during start-up or shutdown) and the queue can
/// take a message (its directories writable, space and inodes left).
public final class Readiness: Sendable {
    private let listening = Mutex(false)
    let queueDirectory: String

    public init(queueDirectory: String) {
        self.queueDirectory = queueDirectory
    }

    /// Set once every listener is bound; cleared when shutdown begins.
    public func setListening(_ value: Bool) {
        listening.withLock { $0 = value }
    }

    /// Nil when ready, else why not (one line, for the 503 body).
    public func problem() -> String? {
        guard listening.withLock({ $0 }) else { return "SMTP listeners are not bound" }
        for sub in ["incoming", "msg"] {
            let path = queueDirectory + "/" + sub
            if access(path, W_OK) != 0 { return "queue directory \(path) is not writable: \(String(cString: strerror(errno)))" }
        }
        var fs = statvfs()
        guard statvfs(queueDirectory + "/incoming", &fs) == 0 else {
            return "cannot stat the queue filesystem: \(String(cString: strerror(errno)))"
        }
        if fs.f_flag & UInt(ST_RDONLY) != 0 { return "queue filesystem is read-only" }
        if fs.f_bavail == 0 { return "queue filesystem is full" }
        if fs.f_files > 0 && fs.f_favail == 0 { return "queue filesystem has no free inodes" }
        return nil
    }
}
