import Foundation
import MailStore
import Synchronization

/// An in-memory store for handler tests: one INBOX per user, messages
/// numbered by UID, expunge removing them for good.
final class TestMailAccounts: MailAccounts {
    struct Stored {
        var uid: UInt32
        var uniqueName: String
        var queueID: String?
        var bytes: [UInt8]
    }

    let mailboxes = Mutex<[String: [Stored]]>([:])
    /// Makes `refresh` fail, as a disk fault would.
    let failing = Mutex(false)

    func add(_ user: String, _ text: String, uniqueName: String? = nil, queueID: String? = nil) {
        mailboxes.withLock { boxes in
            let uid = UInt32((boxes[user]?.last?.uid ?? 0) + 1)
            boxes[user, default: []].append(Stored(uid: uid, uniqueName: uniqueName ?? "1700000000.M\(uid)P1.test",
                                                   queueID: queueID, bytes: Array(text.utf8)))
        }
    }

    func messages(_ user: String) -> [Stored] { mailboxes.withLock { $0[user] ?? [] } }

    func account(for user: String) -> any MailAccount { Account(user: user, store: self) }

    struct Account: MailAccount {
        let user: String
        let store: TestMailAccounts
        var isAdministrator: Bool { false }

        func mailboxes() -> [MailboxInfo] { [MailboxInfo(name: "INBOX", role: .maildir, specialUse: nil)] }

        func open(_ name: String) throws(MailStoreError) -> any MailboxView {
            guard name.uppercased() == "INBOX" else { throw .noSuchMailbox(name) }
            return View(user: user, store: store)
        }
    }

    struct View: MailboxView {
        let user: String
        let store: TestMailAccounts
        var info: MailboxInfo { MailboxInfo(name: "INBOX", role: .maildir, specialUse: nil) }

        func refresh(claimRecent: Bool) async throws(MailStoreError) -> MailboxStatus {
            if store.failing.withLock({ $0 }) { throw .io("disk on fire") }
            let messages = store.messages(user).map {
                StoredMessage(uid: $0.uid, size: $0.bytes.count, internalDate: Date(), flags: [], recent: claimRecent,
                              uniqueName: $0.uniqueName, queueID: $0.queueID)
            }
            return MailboxStatus(uidValidity: 42, uidNext: (messages.last?.uid ?? 0) + 1, messages: messages)
        }

        func contents(uid: UInt32) async throws(MailStoreError) -> [UInt8] {
            guard let message = store.messages(user).first(where: { $0.uid == uid }) else { throw .noSuchMessage(uid) }
            return message.bytes
        }

        func setFlags(_ flags: [UInt32: MessageFlags]) async throws(MailStoreError) -> [UInt32: MessageFlags] { flags }

        func expunge(uids: [UInt32]) async throws(MailStoreError) -> [UInt32] {
            store.mailboxes.withLock { boxes in
                let present = Set((boxes[user] ?? []).map(\.uid))
                boxes[user]?.removeAll { uids.contains($0.uid) }
                return uids.filter { present.contains($0) }
            }
        }

        func release(uids: [UInt32]) async throws(MailStoreError) -> [UInt32] { throw .notAllowed("no release here") }
    }
}
