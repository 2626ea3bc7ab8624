import Foundation
import Logging

/// Every connection and every queue file is a descriptor, and the usual
/// soft limit (1024) is below `max_connections`' default: raise the soft
/// limit to the hard one at start, as servers commonly do.
enum FileDescriptorLimit {
    static func raise(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        let before = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        if setrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 {
            logger.debug("file descriptor limit raised", metadata: ["from": "\(before)", "to": "\(limit.rlim_max)"])
        } else {
            logger.warning("cannot raise the file descriptor limit", metadata: ["limit": "\(before)", "errno": "\(errno)"])
        }
    }

    #if os(Linux)
    private static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
    #endif
}
