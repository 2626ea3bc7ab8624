import Synchronization

/// Logged-in IMAP sessions per user and client address (`[imap]
/// max_connections_per_user_ip`, Dovecot's `mail_max_userip_connections`): one
/// user's clients, or a stolen password, cannot fill the daemon's shared
/// connection table with sessions that may idle for 30 minutes each
/// (RFC 3501 §5.4). Shared by every IMAP listener.
public final class IMAPUserSessions: Sendable {
    public let limit: Int
    private let counts = Mutex<[Key: Int]>([:])

    struct Key: Hashable {
        let user: String
        let address: String
    }

    public init(limit: Int) {
        self.limit = limit
    }

    /// Takes a place for `user` from `address`; false when it already has `limit`.
    func acquire(user: String, address: String) -> Bool {
        counts.withLock { counts in
            let key = Key(user: user, address: address)
            let held = counts[key, default: 0]
            guard held < limit else { return false }
            counts[key] = held + 1
            return true
        }
    }

    func release(user: String, address: String) {
        counts.withLock { counts in
            let key = Key(user: user, address: address)
            guard let held = counts[key] else { return }
            counts[key] = held > 1 ? held - 1 : nil
        }
    }

    /// Sessions `user` holds from `address` (for tests).
    func held(user: String, address: String) -> Int {
        counts.withLock { $0[Key(user: user, address: address), default: 0] }
    }
}
