import Foundation

/// What IMAP and POP3 sessions see of the mail Postern holds: the
/// quarantine (per user, through the recipients each message was for) and
/// local Maildirs written by a `maildir:` route.
///
/// Every call may touch the disk; none runs on an event loop (the servers
/// call them from a Task). All of them are safe from any thread; several
/// sessions of one user share one folder's state.

/// The IMAP system flags a Maildir keeps in a file name's info part
/// (":2," then D F R S T in ASCII order; https://cr.yp.to/proto/maildir.html).
/// \Deleted is Maildir's T ("trashed"), as Dovecot has it.
public struct MessageFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let draft = MessageFlags(rawValue: 1 << 0)     // D
    public static let flagged = MessageFlags(rawValue: 1 << 1)   // F
    public static let answered = MessageFlags(rawValue: 1 << 2)  // R
    public static let seen = MessageFlags(rawValue: 1 << 3)      // S
    public static let deleted = MessageFlags(rawValue: 1 << 4)   // T
}

/// One message of a mailbox as a session sees it.
public struct StoredMessage: Sendable, Equatable {
    /// Strictly ascending within a mailbox, never reused while
    /// `MailboxStatus.uidValidity` stays the same (RFC 3501 §2.3.1.1).
    public var uid: UInt32
    /// Octets of the file, which is the message exactly as served (CRLF
    /// line ends): RFC822.SIZE, POP3's LIST and STAT.
    public var size: Int
    /// When it arrived (quarantined or delivered): INTERNALDATE.
    public var internalDate: Date
    public var flags: MessageFlags
    /// True in the one session that first saw the message (RFC 3501 \Recent).
    public var recent: Bool
    /// The Maildir base name (without ":2,…"): unique and stable; POP3 UIDL.
    public var uniqueName: String
    /// The quarantine ID for quarantined messages (for logs), else nil.
    public var queueID: String?

    public init(uid: UInt32, size: Int, internalDate: Date, flags: MessageFlags, recent: Bool,
                uniqueName: String, queueID: String?) {
        self.uid = uid
        self.size = size
        self.internalDate = internalDate
        self.flags = flags
        self.recent = recent
        self.uniqueName = uniqueName
        self.queueID = queueID
    }
}

/// A mailbox's state after a rescan.
public struct MailboxStatus: Sendable, Equatable {
    public var uidValidity: UInt32
    public var uidNext: UInt32
    /// Ascending by UID.
    public var messages: [StoredMessage]

    public init(uidValidity: UInt32, uidNext: UInt32, messages: [StoredMessage]) {
        self.uidValidity = uidValidity
        self.uidNext = uidNext
        self.messages = messages
    }

    public var unseenCount: Int { messages.count { !$0.flags.contains(.seen) } }
    public var recentCount: Int { messages.count { $0.recent } }
}

/// What a mailbox is for.
public enum MailboxRole: Sendable, Equatable {
    /// Messages held for the user (or for everyone, for an administrator).
    case quarantine
    /// Always empty: a message copied or moved here is released for
    /// delivery to the user's recipients, once.
    case release
    /// The user's own Maildir, written by a `maildir:` route.
    case maildir
}

public struct MailboxInfo: Sendable, Equatable {
    /// "INBOX", "Release" or "Quarantine" (when INBOX is the user's own Maildir).
    public var name: String
    public var role: MailboxRole
    /// RFC 6154 attribute for LIST, e.g. "\\Junk"; nil for none.
    public var specialUse: String?

    public init(name: String, role: MailboxRole, specialUse: String?) {
        self.name = name
        self.role = role
        self.specialUse = specialUse
    }
}

public enum MailStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No such mailbox for this user (IMAP NO [NONEXISTENT]).
    case noSuchMailbox(String)
    /// A UID that is not (or no longer) in the mailbox; IMAP ignores these.
    case noSuchMessage(UInt32)
    /// The operation makes no sense here, e.g. flags in Release, release
    /// from a user's own Maildir (IMAP NO [CANNOT]).
    case notAllowed(String)
    /// Disk or queue trouble (IMAP NO [SERVERBUG]/[UNAVAILABLE], POP3 -ERR).
    case io(String)

    public var description: String {
        switch self {
        case .noSuchMailbox(let name): return "no mailbox named \(name)"
        case .noSuchMessage(let uid): return "no message with UID \(uid)"
        case .notAllowed(let why): return why
        case .io(let why): return why
        }
    }
}

/// One logged-in user's view of the store.
public protocol MailAccount: Sendable {
    /// The login name.
    var user: String { get }
    var isAdministrator: Bool { get }
    /// INBOX first.
    func mailboxes() -> [MailboxInfo]
    /// A mailbox to select (or to read for STATUS or POP3). `name` is
    /// matched as IMAP does: "INBOX" in any case, others exactly.
    func open(_ name: String) throws(MailStoreError) -> any MailboxView
}

/// One session's handle on one mailbox.
public protocol MailboxView: Sendable {
    var info: MailboxInfo { get }
    /// Rescans the mailbox: new messages get UIDs, vanished ones go.
    /// `claimRecent` (SELECT, POP3) marks messages no session has seen as
    /// recent for this caller and for no other; EXAMINE and STATUS pass false.
    func refresh(claimRecent: Bool) async throws(MailStoreError) -> MailboxStatus
    /// The whole message as served.
    func contents(uid: UInt32) async throws(MailStoreError) -> [UInt8]
    /// At most the first `limit` octets (a header fetch needs no more).
    func contents(uid: UInt32, limit: Int) async throws(MailStoreError) -> [UInt8]
    /// Sets the flags of each message to `flags`; returns the flags each
    /// message has afterwards (messages gone meanwhile are left out).
    func setFlags(_ flags: [UInt32: MessageFlags]) async throws(MailStoreError) -> [UInt32: MessageFlags]
    /// Removes the messages for this user: a local message is deleted; a
    /// quarantined one is dropped for the user's recipients (and removed
    /// when none remain). Returns the UIDs removed from this view.
    func expunge(uids: [UInt32]) async throws(MailStoreError) -> [UInt32]
    /// COPY/MOVE to Release: each quarantined message is released for the
    /// user's recipients and leaves this view. Returns the UIDs released.
    func release(uids: [UInt32]) async throws(MailStoreError) -> [UInt32]
}

extension MailboxView {
    public func contents(uid: UInt32, limit: Int) async throws(MailStoreError) -> [UInt8] {
        Array(try await contents(uid: uid).prefix(limit))
    }
}

/// Accounts by login name; the daemon builds one (quarantine, policy
/// users and administrators, `maildir:` routes) and hands it to the IMAP
/// and POP3 listeners.
public protocol MailAccounts: Sendable {
    /// The account of a user whose password the caller has checked
    /// against the password file.
    func account(for user: String) -> any MailAccount
}
