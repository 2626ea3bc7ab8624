import Foundation
import SMTPCore
import Testing
@testable import Delivery

/// The agent's DSN decisions (RFC 3461) on a real queue with a `maildir:`
/// route, so every report lands in the sender's Maildir to be read.
@Suite("Delivery agent, DSN parameters")
struct DSNAgentTests {
    typealias Setup = LocalDeliveryAgentTests.Setup

    /// Runs the agent until the queue is empty and `alice` has `reports`
    /// messages (or a while has passed), then stops it.
    static func run(_ setup: Setup, reports: Int, send: () async throws -> Void) async throws {
        let running = Task { await setup.agent.run() }
        try await send()
        try await setup.until { try setup.queue.envelopes().isEmpty && setup.delivered("alice").count >= reports }
        if reports == 0 { try await Task.sleep(for: .milliseconds(300)) } // a report would have come by now
        setup.agent.stop()
        await running.value
    }

    @Test func successIsReportedAsDeliveredWithTheOriginalIDs() async throws {
        let setup = try Setup()
        let orcpt = OriginalRecipient(addressType: "rfc822", address: "robert@old.example")
        try await Self.run(setup, reports: 1) {
            _ = try await setup.send(from: "alice@example.org", to: ["bob@example.org", "carol@example.org"],
                                     dsn: [RecipientParameters(notify: [.success, .failure], originalRecipient: orcpt)],
                                     envelopeID: "abc+def")
        }
        #expect(setup.delivered("bob").count == 1 && setup.delivered("carol").count == 1)
        let reports = setup.delivered("alice")
        try #require(reports.count == 1)
        let report = reports[0]
        #expect(report.contains("Subject: Successful Mail Delivery Report"))
        #expect(report.contains("Original-Envelope-Id: abc+def"))
        #expect(report.contains("Original-Recipient: rfc822;robert@old.example"))
        #expect(report.contains("Final-Recipient: rfc822; bob@example.org"))
        #expect(report.contains("Action: delivered"))
        #expect(report.contains("Status: 2.0.0"))
        #expect(!report.contains("carol@example.org"), "carol did not ask")
        #expect(!report.contains("Hello."), "a success report returns headers only")
    }

    @Test func neverSilencesTheFailureReport() async throws {
        let setup = try Setup()
        try await Self.run(setup, reports: 0) {
            _ = try await setup.send(from: "alice@example.org", to: ["bob@example.org", "a/b@example.org"],
                                     dsn: [RecipientParameters(), RecipientParameters(notify: .never)])
        }
        #expect(setup.delivered("bob").count == 1)
        #expect(setup.delivered("alice").isEmpty)
    }

    @Test func aListWithoutFailureSilencesItToo() async throws {
        let setup = try Setup()
        try await Self.run(setup, reports: 0) {
            _ = try await setup.send(from: "alice@example.org", to: ["a/b@example.org"],
                                     dsn: [RecipientParameters(notify: [.success, .delay])])
        }
        #expect(setup.delivered("alice").isEmpty)
    }

    @Test("RET decides what a failure report returns", arguments: [(DSNReturn.full, true), (.headers, false)])
    func returnedContent(ret: DSNReturn, wholeMessage: Bool) async throws {
        let setup = try Setup()
        try await Self.run(setup, reports: 1) {
            _ = try await setup.send(from: "alice@example.org", to: ["a/b@example.org"], ret: ret)
        }
        let report = try #require(setup.delivered("alice").first)
        #expect(report.contains("Action: failed"))
        #expect(report.contains("Subject: local"))
        #expect(report.contains("Content-Type: message/rfc822") == wholeMessage)
        #expect(report.contains("Content-Type: text/rfc822-headers") == !wholeMessage)
        #expect(report.contains("Hello.") == wholeMessage)
    }
}
