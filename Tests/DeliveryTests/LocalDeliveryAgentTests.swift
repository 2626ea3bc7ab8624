import DNSModel
import Foundation
import Logging
import MailQueue
import NIOPosix
import SMTPCore
import Testing
@testable import Delivery

/// The delivery agent with a `maildir:` route, on a real queue: recipients
/// delivered, a bad one bounced (the DSN itself delivered locally), a
/// deferred one recorded in the attempt history and delivered on retry.
@Suite("Delivery agent, maildir route")
struct LocalDeliveryAgentTests {
    /// Nothing here may look anything up.
    struct NoDNS: DNSResolver {
        func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> { .failure(.timedOut) }
    }

    final class Setup: Sendable {
        let path = NSTemporaryDirectory() + "postern-agent-maildir-" + UUID().uuidString
        let queue: MailQueue
        let agent: DeliveryAgent

        init() throws {
            queue = try MailQueue(directory: path + "/queue")
            var configuration = DeliveryConfiguration(hostname: "mx.test")
            configuration.retry = RetrySchedule(minimumDelay: 0.2, maximumDelay: 0.4)
            let route = try MaildirRoute(parsing: "maildir:\(path)/mail/%d/%u")
            agent = DeliveryAgent(queue: queue, router: Router(routes: ["example.org": .maildir(route)], resolver: NoDNS()),
                                  configuration: configuration, group: MultiThreadedEventLoopGroup.singleton,
                                  logger: Logger(label: "test"))
        }

        deinit {
            queue.close()
            try? FileManager.default.removeItem(atPath: path)
        }

        /// Queues a message; `dsn` holds each recipient's NOTIFY/ORCPT (none when short).
        func send(from sender: String, to recipients: [String], dsn: [RecipientParameters] = [],
                  ret: DSNReturn? = nil, envelopeID: String? = nil) async throws -> QueueID {
            let spool = queue.makeSpool()
            spool.append("Subject: local\r\n\r\nHello.\r\n")
            var envelope = Envelope(id: spool.id, sender: sender, recipients: recipients.enumerated().map { index, address in
                                        .init(address: address, dsn: index < dsn.count ? dsn[index] : RecipientParameters())
                                    },
                                    size: spool.size, clientAddress: "127.0.0.1", clientHelo: "client.test",
                                    receivedProtocol: "ESMTP")
            envelope.dsnReturn = ret
            envelope.envelopeID = envelopeID
            try await queue.commit(spool, envelope: envelope)
            agent.enqueue(spool.id)
            return spool.id
        }

        /// The files in a user's new/.
        func delivered(_ user: String) -> [String] {
            let new = path + "/mail/example.org/\(user)/new"
            return ((try? FileManager.default.contentsOfDirectory(atPath: new)) ?? []).sorted().compactMap {
                try? String(contentsOfFile: new + "/" + $0, encoding: .utf8)
            }
        }

        func until(_ condition: () throws -> Bool) async throws {
            for _ in 0..<400 where try !condition() { try await Task.sleep(for: .milliseconds(25)) }
        }
    }

    @Test func deliversAndBouncesTheBadAddressIntoTheSendersMaildir() async throws {
        let setup = try Setup()
        let running = Task { await setup.agent.run() }
        _ = try await setup.send(from: "alice@example.org", to: ["bob@example.org", "a/b@example.org"])
        try await setup.until { try setup.queue.envelopes().isEmpty && setup.delivered("alice").count == 1 }
        setup.agent.stop()
        await running.value
        #expect(try setup.queue.envelopes().isEmpty)
        let bob = setup.delivered("bob")
        #expect(bob.count == 1)
        #expect(bob.first?.hasPrefix("Return-Path: <alice@example.org>\r\nDelivered-To: bob@example.org\r\n") == true)
        let dsn = setup.delivered("alice").first ?? ""
        #expect(dsn.hasPrefix("Return-Path: <>\r\nDelivered-To: alice@example.org\r\nReceived: by mx.test (Postern)"))
        #expect(dsn.contains("Final-Recipient: rfc822; a/b@example.org"))
        #expect(dsn.contains("Status: 5.1.3"))
        #expect(!dsn.contains("Remote-MTA"), "a Maildir is no remote MTA")
    }

    @Test func aDeferredRecipientIsRecordedAndDeliveredOnRetry() async throws {
        let setup = try Setup()
        try FileManager.default.createDirectory(atPath: setup.path + "/mail", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: setup.path + "/mail/example.org", contents: Data())
        let running = Task { await setup.agent.run() }
        let id = try await setup.send(from: "alice@example.net", to: ["bob@example.org"])
        try await setup.until { (try? setup.queue.envelope(id: id))?.history.isEmpty == false }
        let envelope = try setup.queue.envelope(id: id)
        #expect(envelope.recipients[0].status == .deferred)
        #expect(envelope.history.first?.result == .deferred)
        #expect(envelope.history.first?.nextHop == "maildir:\(setup.path)/mail/example.org/bob")
        #expect(envelope.history.first?.reply.hasPrefix("4.2.0 cannot deliver to maildir: mkdir") == true)
        try FileManager.default.removeItem(atPath: setup.path + "/mail/example.org")
        try await setup.until { try setup.queue.envelopes().isEmpty }
        setup.agent.stop()
        await running.value
        #expect(try setup.queue.envelopes().isEmpty)
        #expect(setup.delivered("bob").count == 1)
    }
}
