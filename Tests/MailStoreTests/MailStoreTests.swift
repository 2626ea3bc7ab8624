import Foundation
import MailQueue
import Policy
import Synchronization
import Testing
@testable import MailStore

/// Maildir folders with UIDs and flags, and the per-user view of the
/// quarantine, on real files in a temporary directory.
@Suite("Mail store")
struct MailStoreTests {
    final class Directory: Sendable {
        let path = NSTemporaryDirectory() + "postern-mailstore-" + UUID().uuidString

        init() throws {
            for sub in ["new", "cur", "tmp"] {
                try FileManager.default.createDirectory(atPath: path + "/" + sub, withIntermediateDirectories: true)
            }
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        func deliver(_ name: String, _ text: String, into sub: String = "new") throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path + "/" + sub + "/" + name))
        }

        /// A fresh folder object, as after a restart.
        func folder() -> MaildirFolder { MaildirFolder(directory: path) { _ in true } }

        var names: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: path + "/cur")) ?? [])
                + ((try? FileManager.default.contentsOfDirectory(atPath: path + "/new")) ?? [])
        }
    }

    @Test func uidsAreAscendingAndSurviveARestart() throws {
        let dir = try Directory()
        try dir.deliver("1700000002.b.host,S=5", "two\r\n")
        try dir.deliver("1700000001.a.host,S=5", "one\r\n")
        let first = try dir.folder().scan()
        #expect(first.messages.map(\.baseName) == ["1700000001.a.host,S=5", "1700000002.b.host,S=5"])
        #expect(first.messages.map(\.uid) == [1, 2])
        #expect(first.uidNext == 3)
        try dir.deliver("1700000000.c.host", "three\r\n")
        let again = try dir.folder().scan()
        #expect(again.uidValidity == first.uidValidity)
        // A late arrival gets the next UID even though its name sorts first.
        #expect(again.messages.map(\.uid) == [1, 2, 3])
        #expect(again.messages.last?.baseName == "1700000000.c.host")
        #expect(again.messages.last?.size == 7)
    }

    @Test func vanishedMessagesLoseTheirUIDsForGood() throws {
        let dir = try Directory()
        try dir.deliver("1.a.host", "a\r\n")
        try dir.deliver("2.b.host", "b\r\n")
        let folder = dir.folder()
        _ = try folder.scan()
        try FileManager.default.removeItem(atPath: dir.path + "/new/1.a.host")
        try dir.deliver("3.c.host", "c\r\n")
        let snapshot = try folder.scan()
        #expect(snapshot.messages.map(\.uid) == [2, 3])
        try dir.deliver("1.a.host", "a\r\n", into: "cur")
        #expect(try dir.folder().scan().messages.map(\.uid) == [2, 3, 4])
    }

    @Test func flagsLiveInTheNameAndClaimingMovesToCur() throws {
        let dir = try Directory()
        try dir.deliver("1.a.host,S=3", "a\r\n")
        let folder = dir.folder()
        let message = try #require(try folder.scan().messages.first)
        #expect(message.isNew)
        #expect(folder.claim(message))
        #expect(!folder.claim(message), "only one session sees it first")
        #expect(dir.names == ["1.a.host,S=3:2,"])
        #expect(try folder.setFlags(message, [.seen, .deleted, .answered]) != nil)
        #expect(dir.names == ["1.a.host,S=3:2,RST"])
        let rescanned = try #require(try dir.folder().scan().messages.first)
        #expect(rescanned.flags == [.seen, .deleted, .answered])
        #expect(!rescanned.isNew)
        try folder.delete(rescanned)
        #expect(dir.names.isEmpty)
        #expect(try folder.scan().messages.isEmpty)
    }

    @Test func lettersWeDoNotMapAreKept() {
        #expect(MaildirFolder.infoLetters([.seen], keeping: "/x/cur/1.a:2,Pa") == "PSa")
        #expect(MaildirFolder.flags(ofName: "1.a:2,DFPRST") == [.draft, .flagged, .answered, .seen, .deleted])
        #expect(MaildirFolder.flags(ofName: "1.a") == [])
    }

    // MARK: - The quarantine per user

    final class Quarantine: Sendable {
        let dir: Directory
        let maildir: QuarantineMaildir
        let released = Mutex<[(QueueID, [String], String)]>([])
        let dropped = Mutex<[(QueueID, [String], String)]>([])

        init() throws {
            dir = try Directory()
            maildir = QuarantineMaildir(directory: dir.path, hostname: "mx.test")
        }

        @discardableResult
        func hold(_ recipients: [String], id: UInt64) throws -> QueueID {
            let queueID = QueueID(value: id)
            let body = dir.path + "/body-\(id)"
            try Data("Subject: held \(id)\r\n\r\nBody.\r\n".utf8).write(to: URL(fileURLWithPath: body))
            let record = QuarantineRecord(id: queueID, sender: "spammer@bad.test", recipients: recipients,
                                          clientAddress: "192.0.2.1", clientHelo: "bad.test", receivedProtocol: "ESMTP",
                                          eightBitMIME: false, smtpUTF8: false, reason: "spam",
                                          date: Date(timeIntervalSince1970: 1_700_000_000 + Double(id)))
            _ = try maildir.store(record, addedHeaders: [], body: QueuedBody(path: body))
            try FileManager.default.removeItem(atPath: body)
            return queueID
        }

        func directory() -> MailDirectory {
            MailDirectory(quarantineDirectory: dir.path, actions: QuarantineActions(
                release: { id, recipients, user in self.released.withLock { $0.append((id, recipients, user)) } },
                drop: { id, recipients, user in self.dropped.withLock { $0.append((id, recipients, user)) } }
            )) { name in
                MailUser(name: name, addresses: name == "bob@local.test" ? [AddressPattern("bob@local.test")!]
                            : [AddressPattern("@other.test")!],
                         isAdministrator: name == "postmaster", localMaildir: nil)
            }
        }
    }

    @Test func eachUserSeesOnlyMessagesForItsAddresses() async throws {
        let quarantine = try Quarantine()
        try quarantine.hold(["bob@local.test"], id: 1)
        try quarantine.hold(["carol@local.test"], id: 2)
        try quarantine.hold(["BOB@local.test", "dave@other.test"], id: 3)
        let directory = quarantine.directory()
        let bob = try directory.account(for: "bob@local.test").open("inbox")
        #expect(try await bob.refresh(claimRecent: false).messages.map(\.queueID) == [QueueID(value: 1).description, QueueID(value: 3).description])
        let other = try directory.account(for: "dave").open("INBOX")
        #expect(try await other.refresh(claimRecent: false).messages.map(\.uid) == [3])
        let admin = try directory.account(for: "postmaster").open("INBOX")
        let all = try await admin.refresh(claimRecent: true)
        #expect(all.messages.map(\.uid) == [1, 2, 3])
        #expect(all.recentCount == 3)
        #expect(try await admin.refresh(claimRecent: true).recentCount == 3, "still recent in the session that claimed them")
        #expect(try await bob.refresh(claimRecent: true).recentCount == 0, "another session claimed them first")
    }

    @Test func releaseAndExpungeActOnTheUsersRecipientsOnly() async throws {
        let quarantine = try Quarantine()
        let id = try quarantine.hold(["bob@local.test", "dave@other.test"], id: 7)
        let directory = quarantine.directory()
        let bob = try directory.account(for: "bob@local.test").open("INBOX")
        let uid = try #require(try await bob.refresh(claimRecent: false).messages.first?.uid)
        #expect(try await bob.release(uids: [uid, 99]) == [uid])
        #expect(quarantine.released.withLock { $0.map { "\($0.0) \($0.1) \($0.2)" } } == ["\(id) [\"bob@local.test\"] bob@local.test"])
        let dave = try directory.account(for: "dave").open("INBOX")
        #expect(try await dave.expunge(uids: [uid]) == [], "not refreshed yet: the UID is unknown to this view")
        _ = try await dave.refresh(claimRecent: false)
        #expect(try await dave.expunge(uids: [uid]) == [uid])
        #expect(quarantine.dropped.withLock { $0.map { "\($0.0) \($0.1)" } } == ["\(id) [\"dave@other.test\"]"])
    }

    @Test func mailboxesAndRelease() async throws {
        let quarantine = try Quarantine()
        let account = quarantine.directory().account(for: "bob@local.test")
        #expect(account.mailboxes().map(\.name) == ["INBOX", "Release"])
        let release = try account.open("Release")
        #expect(try await release.refresh(claimRecent: true).messages.isEmpty)
        #expect(throws: MailStoreError.noSuchMailbox("Junk")) { try account.open("Junk") }
        let local = MailDirectory(quarantineDirectory: quarantine.dir.path,
                                  actions: QuarantineActions(release: { _, _, _ in }, drop: { _, _, _ in })) { name in
            MailUser(name: name, addresses: [], isAdministrator: false, localMaildir: quarantine.dir.path + "/local")
        }.account(for: "eve@local.test")
        #expect(local.mailboxes().map(\.name) == ["INBOX", "Quarantine", "Release"])
        #expect(local.mailboxes()[1].specialUse == "\\Junk")
        let inbox = try local.open("INBOX")
        #expect(try await inbox.refresh(claimRecent: true).messages.isEmpty, "a Maildir not made yet is empty")
        await #expect(throws: MailStoreError.self) { try await inbox.release(uids: [1]) }
    }

    @Test func usersMatchTheirPatterns() {
        let user = MailUser(name: "bob", addresses: [AddressPattern("bob@local.test")!, AddressPattern(".sub.test")!],
                            isAdministrator: false, localMaildir: nil)
        #expect(user.own(["Bob@Local.Test", "x@a.sub.test", "x@sub.test", "carol@local.test", "no-at-sign"])
                == ["Bob@Local.Test", "x@a.sub.test"])
        let admin = MailUser(name: "root", addresses: [], isAdministrator: true, localMaildir: nil)
        #expect(admin.own(["a@b.test"]) == ["a@b.test"])
    }
}
