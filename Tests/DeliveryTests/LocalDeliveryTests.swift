import Foundation
@testable import MailQueue
import SMTPCore
import Testing
@testable import Delivery
#if canImport(Glibc)
import Glibc
#endif

/// Local delivery into Maildirs on a real file system: the bytes of each
/// file, the names, what a bad address and an unwritable path become.
@Suite("Local delivery to Maildir")
struct LocalDeliveryTests {
    final class Setup: Sendable {
        let path = NSTemporaryDirectory() + "postern-maildir-" + UUID().uuidString
        let bodyPath: String

        init() throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            bodyPath = path + "/body.eml"
            // As in a queue record: the envelope follows the body.
            try Data((Self.replaced + Self.body + Self.envelopeText).utf8).write(to: URL(fileURLWithPath: bodyPath))
        }

        deinit {
            chmod(path + "/mail", 0o700)
            try? FileManager.default.removeItem(atPath: path)
        }

        static let replaced = "X-Old: replaced\r\n"
        static let envelopeText = "postern-envelope 4\nid 0005F1A2B3C4D5E6\nend\n"
        static let body = "Received: from client.test\r\nSubject: hi\r\n\r\nThe body.\r\n"

        func envelope(sender: String = "alice@example.net", recipients: [String]) -> Envelope {
            var envelope = Envelope(id: QueueID("0005F1A2B3C4D5E6")!, sender: sender,
                                    recipients: recipients.map { Envelope.Recipient(address: $0) },
                                    size: (Self.replaced + Self.body).utf8.count, clientAddress: "127.0.0.1",
                                    clientHelo: "client.test", receivedProtocol: "ESMTP")
            envelope.addedHeaders = ["X-Spam-Flag: NO\r\n"]
            envelope.bodyOffset = Self.replaced.utf8.count
            return envelope
        }

        var route: MaildirRoute { try! MaildirRoute(parsing: "maildir:\(path)/mail/%d/%u") }

        func deliver(_ envelope: Envelope) -> [DomainAttempt.Result] {
            LocalDelivery(hostname: "mx.test", body: QueuedBody(path: bodyPath, offset: envelope.bodyOffset, end: envelope.size))
                .deliver(envelope, indices: Array(envelope.recipients.indices), domain: "example.org", route: route)
        }

        func files(_ directory: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        }
    }

    @Test func eachRecipientGetsTheMessageAsDeliveredWithReturnPathAndDeliveredTo() throws {
        let setup = try Setup()
        let envelope = setup.envelope(recipients: ["bob@example.org", "a/b@example.org", "Carol@Example.org"])
        let results = setup.deliver(envelope)
        #expect(results.map(\.0) == [0, 1, 2])
        #expect(results[0].1.isDelivered && results[2].1.isDelivered)
        guard case .failed(let reason) = results[1].1 else { Issue.record("a/b: \(results[1].1)"); return }
        #expect(reason.statusCode == EnhancedStatusCode(5, 1, 3))
        #expect(results[1].2 == nil)
        for (address, user) in [("bob@example.org", "bob"), ("Carol@Example.org", "carol")] {
            let maildir = setup.path + "/mail/example.org/" + user
            #expect(results.contains { $0.2 == .maildir(maildir) })
            #expect(setup.files(maildir) == ["cur", "new", "tmp"])
            #expect(setup.files(maildir + "/tmp").isEmpty)
            let names = setup.files(maildir + "/new")
            #expect(names.count == 1)
            guard let name = names.first else { continue }
            let contents = try Data(contentsOf: URL(fileURLWithPath: maildir + "/new/" + name))
            let expected = "Return-Path: <alice@example.net>\r\nDelivered-To: \(address)\r\nX-Spam-Flag: NO\r\n" + Setup.body
            #expect(contents == Data(expected.utf8))
            #expect(name.wholeMatch(of: /\d+\.M\d{1,6}P\d+Q\d+\.mx\.test,S=(\d+)/)?.1 == Substring("\(contents.count)"))
            for directory in [maildir, maildir + "/new", maildir + "/cur", maildir + "/tmp", setup.path + "/mail"] {
                let mode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
                #expect(mode == 0o700, "\(directory)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: setup.path + "/mail/example.org/a"))
    }

    @Test func namesAreUniqueWithinTheProcess() {
        let names = (0..<1000).map { _ in Maildir.uniqueName(size: 1, hostname: "h") }
        #expect(Set(names).count == names.count)
        #expect(Maildir.nameSafe(hostname: "a/b:c,d") == "a\\057b\\072c\\054d")
    }

    @Test func theNullSenderIsAnEmptyReturnPath() {
        #expect(LocalDelivery.head(sender: "", recipient: "bob@example.org", addedHeaders: [])
            == Array("Return-Path: <>\r\nDelivered-To: bob@example.org\r\n".utf8))
    }

    @Test func aSenderThatCouldBreakTheHeaderFailsEveryRecipient() throws {
        let setup = try Setup()
        let results = setup.deliver(setup.envelope(sender: "a@b\r\nBcc: x@y", recipients: ["bob@example.org", "carol@example.org"]))
        for result in results {
            guard case .failed(let reason) = result.1 else { Issue.record("\(result.1)"); continue }
            #expect(reason.statusCode == EnhancedStatusCode(5, 1, 7))
        }
        #expect(!FileManager.default.fileExists(atPath: setup.path + "/mail"))
    }

    /// A path that cannot be made defers (the operator fixes it); once it
    /// can be, the same delivery goes through.
    @Test func aFileInThePathDefersUntilItIsGone() throws {
        let setup = try Setup()
        try FileManager.default.createDirectory(atPath: setup.path + "/mail", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: setup.path + "/mail/example.org", contents: Data("x".utf8))
        let envelope = setup.envelope(recipients: ["bob@example.org"])
        guard case .deferred(let reason) = setup.deliver(envelope)[0].1 else { Issue.record("not deferred"); return }
        #expect(reason.statusCode == EnhancedStatusCode(4, 2, 0))
        #expect(reason.description.contains("Not a directory"))
        try FileManager.default.removeItem(atPath: setup.path + "/mail/example.org")
        #expect(setup.deliver(envelope)[0].1.isDelivered)
        #expect(setup.files(setup.path + "/mail/example.org/bob/new").count == 1)
    }

    /// Root writes anywhere, so only another user sees the refusal.
    @Test(.enabled(if: geteuid() != 0, "root ignores directory modes"))
    func aReadOnlyMaildirDefersUntilItIsWritable() throws {
        let setup = try Setup()
        let envelope = setup.envelope(recipients: ["bob@example.org"])
        try FileManager.default.createDirectory(atPath: setup.path + "/mail", withIntermediateDirectories: true)
        chmod(setup.path + "/mail", 0o500)
        guard case .deferred(let reason) = setup.deliver(envelope)[0].1 else { Issue.record("not deferred"); return }
        #expect(reason.statusCode == EnhancedStatusCode(4, 2, 0))
        chmod(setup.path + "/mail", 0o700)
        #expect(setup.deliver(envelope)[0].1.isDelivered)
    }

    @Test(arguments: [(ENOSPC, EnhancedStatusCode(4, 3, 1)), (EDQUOT, EnhancedStatusCode(4, 2, 2)),
                      (EIO, EnhancedStatusCode(4, 3, 0)), (EACCES, EnhancedStatusCode(4, 2, 0)),
                      (EROFS, EnhancedStatusCode(4, 2, 0)), (ENOTDIR, EnhancedStatusCode(4, 2, 0))])
    func writeErrorsAreTemporary(errno: Int32, code: EnhancedStatusCode) {
        let error = QueueIOError(operation: "open", path: "/var/mail/x/tmp/1", errno: errno)
        guard case .deferred(let reason) = LocalDelivery.outcome(for: error, bodyPath: "/q/msg/1.eml") else {
            Issue.record("not deferred")
            return
        }
        #expect(reason.statusCode == code)
        #expect(reason.stage == .localDelivery)
    }

    @Test func anUnreadableQueueFileIsASystemProblem() {
        let error = QueueIOError(operation: "open", path: "/q/msg/1.eml", errno: ENOENT)
        guard case .deferred(let reason) = LocalDelivery.outcome(for: error, bodyPath: "/q/msg/1.eml") else {
            Issue.record("not deferred")
            return
        }
        #expect(reason.statusCode == EnhancedStatusCode(4, 3, 0))
    }
}
