import Foundation
import Logging
import MailQueue
import SMTPCore
import Synchronization
import Testing
@testable import Delivery

/// The quarantine mover against a real queue and Maildir in a temporary
/// directory: the queue entry goes only after the Maildir file is durable,
/// a move interrupted anywhere ends with exactly one file, and a release
/// queues the original message again.
@Suite("Quarantine mover")
struct QuarantineMoverTests {
    final class Setup: Sendable {
        let path = NSTemporaryDirectory() + "postern-quarantine-" + UUID().uuidString
        let queue: MailQueue

        init() throws {
            queue = try MailQueue(directory: path + "/queue")
        }

        deinit {
            queue.close()
            try? FileManager.default.removeItem(atPath: path)
        }

        func maildir(_ observe: @escaping @Sendable (QuarantineMaildir.Step) throws -> Void = { _ in }) -> QuarantineMaildir {
            QuarantineMaildir(directory: path + "/quarantine", hostname: "mx.test", observe: observe)
        }

        func mover(_ maildir: QuarantineMaildir, retryDelay: Double = 60) -> QuarantineMover {
            QuarantineMover(maildir: maildir, queue: queue, agent: nil, logger: Logger(label: "test"), retryDelay: retryDelay)
        }

        static let body = "Received: from client.test\r\nSubject: held\r\n\r\nThe body.\r\n"

        /// Commits a message as the SMTP handler does for a quarantine verdict.
        func commitQuarantined(state: Envelope.State = .quarantine, recipients: [Envelope.Recipient]? = nil) async throws -> QueueID {
            let spool = queue.makeSpool()
            spool.append("X-Old: replaced\r\n" + Self.body)
            var envelope = Envelope(id: spool.id, sender: "alice@fail.test",
                                    recipients: recipients ?? [.init(address: "bob@local.test", dsn: Self.bobDSN),
                                                               .init(address: "carol@local.test")],
                                    size: spool.size, state: state, clientAddress: "127.0.0.2", clientHelo: "client.test",
                                    receivedProtocol: "ESMTP", eightBitMIME: true)
            envelope.addedHeaders = ["X-Spam-Flag: YES\r\n"]
            envelope.bodyOffset = "X-Old: replaced\r\n".utf8.count
            envelope.quarantineReason = "SPF fail"
            envelope.dsnReturn = .headers
            envelope.envelopeID = "env-42"
            try await queue.commit(spool, envelope: envelope)
            return spool.id
        }

        var queued: [Envelope] { (try? queue.envelopes()) ?? [] }

        static let bobDSN = RecipientParameters(notify: [.success, .delay],
                                                originalRecipient: OriginalRecipient(addressType: "rfc822", address: "Bob@Local.test"))
    }

    static let delivered = Array(("X-Spam-Flag: YES\r\n" + Setup.body).utf8)

    @Test func movesAndRemovesTheQueueEntryOnlyAfterTheFileIsDurable() async throws {
        let setup = try Setup()
        let id = try await setup.commitQuarantined()
        let queueHeld = Mutex<[Bool]>([])
        let maildir = setup.maildir { _ in
            queueHeld.withLock { $0.append((try? setup.queue.envelope(id: id)) != nil) }
        }
        let mover = setup.mover(maildir)
        try mover.recover()
        mover.drain()
        #expect(queueHeld.withLock { $0 } == [true, true, true, true])
        #expect(setup.queued.isEmpty)
        let entries = try maildir.entries()
        #expect(entries.map(\.id) == [id])
        let (record, offset) = try maildir.read(entries[0])
        #expect(record.sender == "alice@fail.test")
        #expect(record.recipients == ["bob@local.test", "carol@local.test"])
        #expect(record.reason == "SPF fail")
        #expect(try maildir.contents(of: entries[0], from: offset) == Self.delivered)
    }

    @Test func messagesNotInQuarantineStayQueued() async throws {
        let setup = try Setup()
        let id = try await setup.commitQuarantined(state: .ready)
        let mover = setup.mover(setup.maildir())
        try mover.recover()
        mover.move(id)
        mover.drain()
        #expect(setup.queued.map(\.id) == [id])
        #expect(try mover.maildir.entries().isEmpty)
    }

    /// Every point a crash can hit: the next start ends with one file and no queue entry.
    @Test(arguments: [QuarantineMaildir.Step.wroteTemporary, .syncedFile, .renamed, .syncedDirectory])
    func aMoveInterruptedAnywhereEndsWithOneFile(crashAt: QuarantineMaildir.Step) async throws {
        let setup = try Setup()
        let id = try await setup.commitQuarantined()
        struct Crash: Error {}
        let first = setup.mover(setup.maildir { if $0 == crashAt { throw Crash() } })
        try first.recover()
        first.stop() // the retry it scheduled never runs: the process "died"
        #expect(setup.queued.map(\.id) == [id], "the queue entry stays until the file is durable")

        let second = setup.mover(setup.maildir())
        try second.recover()
        second.drain()
        #expect(setup.queued.isEmpty)
        let entries = try second.maildir.entries()
        #expect(entries.map(\.id) == [id])
        #expect(try second.maildir.contents(of: entries[0], from: second.maildir.read(entries[0]).messageOffset) == Self.delivered)
    }

    /// The file was durable but the queue entry not yet removed.
    @Test func aFileAlreadyThereIsNotWrittenAgain() async throws {
        let setup = try Setup()
        let id = try await setup.commitQuarantined()
        let envelope = try setup.queue.envelope(id: id)
        let maildir = setup.maildir()
        try maildir.create()
        _ = try maildir.store(QuarantineRecord(envelope: envelope), addedHeaders: envelope.addedHeaders,
                              body: setup.queue.body(of: envelope))
        let mover = setup.mover(maildir)
        try mover.recover()
        mover.drain()
        #expect(setup.queued.isEmpty)
        #expect(try maildir.entries().count == 1)
    }

    @Test func aFailedMoveIsTriedAgain() async throws {
        let setup = try Setup()
        let id = try await setup.commitQuarantined()
        struct Full: Error {}
        let failures = Mutex(1)
        let mover = setup.mover(setup.maildir { step in
            if step == .wroteTemporary, failures.withLock({ $0 -= 1; return $0 >= 0 }) { throw Full() }
        }, retryDelay: 0.05)
        try mover.recover()
        for _ in 0..<100 where !setup.queued.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        mover.drain()
        #expect(setup.queued.isEmpty)
        #expect(try mover.maildir.entries().map(\.id) == [id])
    }

    @Test func releaseQueuesTheOriginalMessageAgain() async throws {
        let setup = try Setup()
        let id = try await setup.commitQuarantined()
        let mover = setup.mover(setup.maildir())
        try mover.recover()
        mover.drain()
        let report = await mover.release([id.description, "0005F1A2B3C4D5E6", "nonsense"])
        #expect(report.done == [id.description])
        #expect(report.skipped == [.init(id: "0005F1A2B3C4D5E6", reason: "no such message in the quarantine"),
                                   .init(id: "nonsense", reason: "not a quarantine ID")])
        let queued = setup.queued
        #expect(queued.count == 1)
        let released = try #require(queued.first)
        #expect(released.id != id)
        #expect(report.notes == ["\(id): released as queue ID \(released.id)"])
        #expect(released.state == .ready)
        #expect(released.sender == "alice@fail.test")
        #expect(released.recipients.map(\.address) == ["bob@local.test", "carol@local.test"])
        #expect(released.eightBitMIME && !released.smtpUTF8)
        #expect(released.clientAddress == "127.0.0.2" && released.clientHelo == "client.test")
        #expect(released.recipients.map(\.dsn) == [Setup.bobDSN, RecipientParameters()])
        #expect(released.dsnReturn == .headers && released.envelopeID == "env-42")
        #expect(try QueueReader(directory: setup.queue.directory).message(released) == Self.delivered)
        #expect(try mover.maildir.entries().isEmpty)
        #expect(await mover.release([id.description]).skipped.count == 1, "released once only")
    }

    /// An address given twice with different parameters keeps each copy's
    /// own (NOTIFY=NEVER on one must not silence the other).
    @Test func aRecipientGivenTwiceKeepsEachCopysParameters() async throws {
        let setup = try Setup()
        let never = RecipientParameters(notify: .never)
        let id = try await setup.commitQuarantined(recipients: [.init(address: "bob@local.test"),
                                                                .init(address: "bob@local.test", dsn: never),
                                                                .init(address: "carol@local.test", dsn: Setup.bobDSN)])
        let mover = setup.mover(setup.maildir())
        try mover.recover()
        mover.drain()
        try await mover.release(id, recipients: ["bob@local.test"], user: "bob")
        #expect(setup.queued.first?.recipients.map(\.dsn) == [RecipientParameters(), never])
        try await mover.release(id, recipients: ["carol@local.test"], user: "carol")
        #expect(setup.queued.contains { $0.recipients.map(\.dsn) == [Setup.bobDSN] })
    }

    @Test func deleteRemovesTheFile() async throws {
        let setup = try Setup()
        let id = try await setup.commitQuarantined()
        let mover = setup.mover(setup.maildir())
        try mover.recover()
        mover.drain()
        let report = await mover.delete([id.description])
        #expect(report.done == [id.description] && report.skipped.isEmpty)
        #expect(try mover.maildir.entries().isEmpty)
        #expect(setup.queued.isEmpty)
    }

    // MARK: - A user's release and deletion (IMAP, POP3)

    /// Moves one committed message into the quarantine and returns its ID.
    static func quarantined(_ setup: Setup) async throws -> (QueueID, QuarantineMover) {
        let id = try await setup.commitQuarantined()
        let mover = setup.mover(setup.maildir())
        try mover.recover()
        mover.drain()
        return (id, mover)
    }

    @Test func aUserReleaseQueuesOnlyThatUsersRecipientsOnce() async throws {
        let setup = try Setup()
        let (id, mover) = try await Self.quarantined(setup)
        try await mover.release(id, recipients: ["carol@local.test"], user: "carol")
        let queued = setup.queued
        #expect(queued.count == 1)
        #expect(queued.first?.recipients.map(\.address) == ["carol@local.test"])
        #expect(queued.first?.releasedFrom == id)
        let entries = try mover.maildir.entries()
        #expect(entries.map(\.id) == [id])
        let (record, offset) = try mover.maildir.read(entries[0])
        #expect(record.recipients == ["bob@local.test"])
        #expect(try mover.maildir.contents(of: entries[0], from: offset) == Self.delivered)
        // A second release for carol finds nothing to release.
        await #expect(throws: QuarantineActionError.self) {
            try await mover.release(id, recipients: ["carol@local.test"], user: "carol")
        }
        #expect(setup.queued.count == 1)
        try await mover.release(id, recipients: ["bob@local.test"], user: "bob")
        #expect(setup.queued.count == 2)
        // bob's NOTIFY and ORCPT outlived the rewrite that took carol out.
        let bob = try #require(setup.queued.first { $0.recipients.map(\.address) == ["bob@local.test"] })
        #expect(bob.recipients[0].dsn == Setup.bobDSN && bob.envelopeID == "env-42")
        #expect(try mover.maildir.entries().isEmpty)
    }

    @Test func aUserDeletionDropsOnlyThatUsersRecipients() async throws {
        let setup = try Setup()
        let (id, mover) = try await Self.quarantined(setup)
        try await mover.drop(id, recipients: ["bob@local.test", "nobody@local.test"], user: "bob")
        #expect(setup.queued.isEmpty)
        let entries = try mover.maildir.entries()
        #expect(try entries.map { try mover.maildir.read($0).record.recipients } == [["carol@local.test"]])
        try await mover.drop(id, recipients: ["carol@local.test"], user: "carol")
        #expect(try mover.maildir.entries().isEmpty)
    }

    /// A crash after the release's queue commit, before the quarantine file
    /// changed: the next start takes the released recipients out.
    @Test func recoveryFinishesAReleaseCutShort() async throws {
        let setup = try Setup()
        let (id, mover) = try await Self.quarantined(setup)
        let entry = try #require(try mover.maildir.entries().first)
        let (record, offset) = try mover.maildir.read(entry)
        // What releaseNow commits before it updates the file.
        let spool = setup.queue.makeSpool()
        spool.append(try mover.maildir.contents(of: entry, from: offset))
        var envelope = Envelope(id: spool.id, sender: record.sender, recipients: [.init(address: "bob@local.test")],
                                size: spool.size, clientAddress: record.clientAddress, clientHelo: record.clientHelo,
                                receivedProtocol: record.receivedProtocol)
        envelope.releasedFrom = id
        try await setup.queue.commit(spool, envelope: envelope)

        let restarted = setup.mover(setup.maildir())
        try restarted.recover()
        restarted.drain()
        let entries = try restarted.maildir.entries()
        #expect(try entries.map { try restarted.maildir.read($0).record.recipients } == [["carol@local.test"]])
        #expect(setup.queued.map(\.id) == [spool.id])
    }

    /// A crash inside a rewrite left the old and the new file: the one
    /// with fewer recipients stays.
    @Test func recoveryKeepsTheRewrittenFile() async throws {
        let setup = try Setup()
        let (id, mover) = try await Self.quarantined(setup)
        let entry = try #require(try mover.maildir.entries().first)
        let copy = entry.path + ".copy"
        try FileManager.default.copyItem(atPath: entry.path, toPath: copy)
        try await mover.drop(id, recipients: ["bob@local.test"], user: "bob")
        try FileManager.default.moveItem(atPath: copy, toPath: entry.path)
        #expect(try mover.maildir.entries().count == 2)
        let restarted = setup.mover(setup.maildir())
        try restarted.recover()
        let entries = try restarted.maildir.entries()
        #expect(try entries.map { try restarted.maildir.read($0).record.recipients } == [["carol@local.test"]])
    }
}
