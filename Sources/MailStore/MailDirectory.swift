import Foundation
import MailQueue
import Policy
import SMTPCore
import Synchronization

/// Who a login is, as the policy says: the addresses whose held mail it
/// sees and may release, and its own Maildir if a `maildir:` route has one.
public struct MailUser: Sendable, Equatable {
    public var name: String
    /// A login named like an address has that address too (added by the caller).
    public var addresses: [AddressPattern]
    /// Sees and acts on every quarantined message, for all its recipients.
    public var isAdministrator: Bool
    /// The user's own Maildir (a `maildir:` route for its address), if any.
    public var localMaildir: String?

    public init(name: String, addresses: [AddressPattern], isAdministrator: Bool, localMaildir: String?) {
        self.name = name
        self.addresses = addresses
        self.isAdministrator = isAdministrator
        self.localMaildir = localMaildir
    }

    /// Of a quarantined message's recipients, the ones this user answers for.
    public func own(_ recipients: [String]) -> [String] {
        isAdministrator ? recipients : recipients.filter(matches)
    }

    func matches(_ address: String) -> Bool {
        guard let at = address.lastIndex(of: "@") else { return false }
        let local = String(address[..<at])
        let domainText = String(address[address.index(after: at)...])
        let domain: MailDomain = domainText.hasPrefix("[") && domainText.hasSuffix("]")
            ? .literal(String(domainText.dropFirst().dropLast())) : .name(domainText)
        let mailbox = Mailbox(localPart: local, domain: domain)
        return addresses.contains { $0.matches(mailbox) }
    }
}

/// What the quarantine's owner (the daemon's QuarantineMover) does when a
/// user releases or deletes held mail: both change the queue or the
/// quarantine durably and are serialised with the mover's own work.
public struct QuarantineActions: Sendable {
    /// Queue the message again for these recipients only, and take them
    /// out of the quarantine file, once.
    public var release: @Sendable (_ id: QueueID, _ recipients: [String], _ user: String) async throws -> Void
    /// Take these recipients out of the quarantine file (the file goes
    /// when none remain).
    public var drop: @Sendable (_ id: QueueID, _ recipients: [String], _ user: String) async throws -> Void

    public init(release: @escaping @Sendable (QueueID, [String], String) async throws -> Void,
                drop: @escaping @Sendable (QueueID, [String], String) async throws -> Void) {
        self.release = release
        self.drop = drop
    }
}

/// The accounts of IMAP and POP3 users: the shared quarantine filtered per
/// user, plus each user's own Maildir.
public final class MailDirectory: MailAccounts {
    let quarantine: MaildirFolder
    let actions: QuarantineActions
    let users: @Sendable (String) -> MailUser
    /// Recipients of each quarantine file by base name: the record is read
    /// once per file, not at every rescan.
    let recipients = Mutex<[String: QuarantineFacts]>([:])

    public init(quarantineDirectory: String, actions: QuarantineActions,
                users: @escaping @Sendable (String) -> MailUser) {
        quarantine = MaildirFolder.shared(quarantineDirectory) { QuarantineMaildir.parse(name: $0) != nil }
        self.actions = actions
        self.users = users
    }

    public func account(for user: String) -> any MailAccount {
        Account(user: users(user), directory: self)
    }

    /// What a quarantine file's record says (`QuarantineMaildir.read`).
    func facts(_ message: MaildirFolder.Message) -> QuarantineFacts? {
        if let known = recipients.withLock({ $0[message.baseName] }) { return known }
        guard let (id, date) = QuarantineMaildir.parse(name: message.baseName),
              let record = try? QuarantineMaildir(directory: quarantine.directory)
                .read(QuarantineMaildir.Entry(id: id, path: message.path, date: date)).record else { return nil }
        let facts = QuarantineFacts(id: id, recipients: record.recipients)
        recipients.withLock { cache in
            if cache.count > 100_000 { cache.removeAll() }
            cache[message.baseName] = facts
        }
        return facts
    }
}

struct QuarantineFacts: Sendable {
    var id: QueueID
    var recipients: [String]
}

struct Account: MailAccount {
    let mailUser: MailUser
    let directory: MailDirectory

    init(user: MailUser, directory: MailDirectory) {
        self.mailUser = user
        self.directory = directory
    }

    var user: String { mailUser.name }
    var isAdministrator: Bool { mailUser.isAdministrator }

    func mailboxes() -> [MailboxInfo] {
        let release = MailboxInfo(name: "Release", role: .release, specialUse: nil)
        guard mailUser.localMaildir != nil else {
            return [MailboxInfo(name: "INBOX", role: .quarantine, specialUse: nil), release]
        }
        return [MailboxInfo(name: "INBOX", role: .maildir, specialUse: nil),
                MailboxInfo(name: "Quarantine", role: .quarantine, specialUse: "\\Junk"), release]
    }

    func open(_ name: String) throws(MailStoreError) -> any MailboxView {
        let wanted = name.uppercased() == "INBOX" ? "INBOX" : name
        guard let info = mailboxes().first(where: { $0.name == wanted }) else { throw .noSuchMailbox(name) }
        switch info.role {
        case .release:
            return ReleaseView(info: info)
        case .maildir:
            return FolderView(info: info, folder: MaildirFolder.shared(mailUser.localMaildir!), account: self)
        case .quarantine:
            return FolderView(info: info, folder: directory.quarantine, account: self)
        }
    }
}
