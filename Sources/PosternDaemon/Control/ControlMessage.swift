/// The control socket's messages: one JSON object per line each way, one
/// request per connection. Versioned, so an older CLI talking to a newer
/// daemon is told so instead of being misread (OpenSMTPD's control.c does
/// the same with its imsg version).
public struct ControlRequest: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public enum Command: String, Codable, Sendable, CaseIterable {
        /// Try the selected messages now.
        case flush
        /// Keep them from delivery until released.
        case hold
        /// Let held (or quarantined) messages go again, now.
        case release
        /// Drop them without a DSN.
        case delete
        /// Fail their undelivered recipients now, with a DSN to the sender.
        case bounce
        /// Forget retry state and route again now.
        case requeue
        /// Is the daemon there (and which version of the protocol)?
        case ping
        /// Read the configuration, policies and certificate again.
        case reload
        /// Put messages from the quarantine Maildir back into the queue (IDs are quarantine IDs).
        case quarantineRelease = "quarantine-release"
        /// Remove messages from the quarantine Maildir.
        case quarantineDelete = "quarantine-delete"
    }

    public var version: Int
    public var command: Command
    /// Queue IDs; with `all` or `domain` none are needed.
    public var ids: [String]
    public var all: Bool
    /// Messages with an undelivered recipient in this domain (flush).
    public var domain: String?

    public init(command: Command, ids: [String] = [], all: Bool = false, domain: String? = nil) {
        version = Self.currentVersion
        self.command = command
        self.ids = ids
        self.all = all
        self.domain = domain
    }
}

public struct ControlReply: Codable, Sendable, Equatable {
    /// One message the command could not act on, and why.
    public struct Skipped: Codable, Sendable, Equatable {
        public var id: String
        public var reason: String

        public init(id: String, reason: String) {
            self.id = id
            self.reason = reason
        }
    }

    /// The request was understood and allowed (it may still skip messages).
    public var ok: Bool
    public var error: String?
    /// Queue IDs the command acted on.
    public var done: [String]
    public var skipped: [Skipped]
    /// Remarks on a command that went through (e.g. what a reload left as it was).
    public var notes: [String]?

    public init(ok: Bool = true, error: String? = nil, done: [String] = [], skipped: [Skipped] = [], notes: [String]? = nil) {
        self.ok = ok
        self.error = error
        self.done = done
        self.skipped = skipped
        self.notes = notes
    }

    public static func failure(_ error: String) -> ControlReply {
        ControlReply(ok: false, error: error)
    }
}
