import Foundation
import MailMessage
import MailQueue
import NIOCore
import Policy
import Synchronization
import Testing
@testable import SMTPCore
@testable import SMTPServer

/// The handler with a policy: refusals in order, AUTH, header edits in the
/// spooled message, content refusals and quarantine.
@Suite("SMTP handler with a policy", .timeLimit(.minutes(1)))
struct HandlerPolicyTests {
    /// Adds a trace field at MAIL and, at the end of data, refuses or edits.
    struct Scripted: PolicyFilter {
        let name = "scripted"
        let phases: Set<PolicyPipeline.Phase> = [.mail, .content]
        func mail(_ session: SessionFacts, _ message: MessageFacts) async -> PolicyVerdict {
            if message.sender.mailbox?.localPart == "hold" { return PolicyVerdict(.quarantine(reason: "held for review")) }
            return PolicyVerdict(.continue, headerEdits: [.prepend(name: "X-Checked", value: "at MAIL by scripted")])
        }
        func content(_ session: SessionFacts, _ message: MessageFacts, content: ReceivedContent) async -> PolicyVerdict {
            let text = String(decoding: content.bytes ?? [], as: UTF8.self)
            if text.contains("REFUSE-ME") { return .reject(554, EnhancedStatusCode(5, 7, 1), "Content refused") }
            if text.contains("TAG-ME") { return PolicyVerdict(.continue, headerEdits: [.prepend(name: "X-Tagged", value: "late")]) }
            if text.contains("STRIP-ME") {
                return PolicyVerdict(.continue, headerEdits: [.remove(name: "X-Spam"), .prepend(name: "X-Tagged", value: "late")])
            }
            return .continue
        }
    }

    static func policy(_ configure: (inout PolicyConfig) -> Void = { _ in }, passwords: PasswordFile? = nil,
                       extra: [any PolicyFilter] = []) -> ListenerPolicy {
        var config = PolicyConfig()
        config.relay.trustedNetworks = ["127.0.0.1/32"].compactMap(IPNetwork.init)
        config.relay.localDomains = ["local.test"]
        configure(&config)
        var pipeline = PolicyPipeline.standard(policy: config, hostname: "relay.test", spf: nil, rateLimiter: nil)
        pipeline = PolicyPipeline(filters: pipeline.filters + extra)
        return ListenerPolicy(config: config, pipeline: pipeline, passwords: passwords,
                              authThrottle: passwords == nil ? nil : AuthThrottle(maxFailures: 5, window: 600))
    }

    /// A policy with AUTH over plaintext and a passwd file holding alice
    /// ("s3cret"); remove the returned file when done.
    static func authPolicy(_ configure: (inout PolicyConfig) -> Void = { _ in }) throws -> (ListenerPolicy, String) {
        let path = NSTemporaryDirectory() + "postern-passwd-" + UUID().uuidString
        try PasswordFile.setEntry(path: path, user: "alice", hash: try PasswordHash.make(password: "s3cret", scheme: .sha512))
        let policy = Self.policy({ config in
            config.auth.enabled = true
            config.auth.allowPlaintext = true
            config.auth.passwordFile = path
            configure(&config)
        }, passwords: PasswordFile(path: path))
        return (policy, path)
    }

    /// Notes, for each MAIL and RCPT it checks, whether it ran on the
    /// session's event loop.
    final class LoopProbe: InlinePolicyFilter, Sendable {
        let name = "probe"
        let phases: Set<PolicyPipeline.Phase> = [.mail, .rcpt]
        let loop = Mutex<(any EventLoop)?>(nil)
        let onLoop = Mutex<[Bool]>([])
        func mailInline(_ session: SessionFacts, _ message: MessageFacts) -> PolicyVerdict { note() }
        func rcptInline(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) -> PolicyVerdict { note() }
        private func note() -> PolicyVerdict {
            let here = loop.withLock { $0?.inEventLoop ?? false }
            onLoop.withLock { $0.append(here) }
            return .continue
        }
    }

    /// The checks before DATA need no I/O here, so they run on the event
    /// loop (no pause, no task); the probe, after the relay filter, is not
    /// asked about the refused recipient.
    @Test func untrustedClientCannotRelayButPipelinedRepliesStayInOrder() async throws {
        let probe = LoopProbe()
        let h = try await HandlerHarness(policy: Self.policy(extra: [probe]), clientAddress: "192.0.2.7")
        probe.loop.withLock { $0 = h.channel.eventLoop }
        try await h.send("EHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@local.test>\r\nDATA\r\n")
        _ = try await h.replies(8)
        #expect(try await h.replies(4) == [
            "250 2.1.0 Sender <a@example.org> ok",
            "554 5.7.1 <b@example.net>: Relay access denied",
            "250 2.1.5 Recipient <c@local.test> ok",
            "354 End data with <CR><LF>.<CR><LF>",
        ])
        try await h.send("Subject: hi\r\n\r\nbody\r\n.\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("250 2.0.0 Ok: queued as "))
        #expect(try h.queued().map { $0.recipients.map(\.address) } == [["c@local.test"]])
        #expect(probe.onLoop.withLock { $0 } == [true, true])
    }

    /// Fields added after the body arrived go into the envelope; the
    /// spooled file stays as written (no copy of the body).
    @Test func headerEditsLandAboveReceivedAndLateEditsStayBesideTheSpool() async throws {
        let h = try await HandlerHarness(policy: Self.policy(extra: [Scripted()]))
        try await h.send("EHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("Subject: TAG-ME\r\n\r\nbody\r\n.\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("250 2.0.0"))
        let envelope = try #require(try h.queued().first)
        #expect(envelope.addedHeaders == ["X-Tagged: late\r\n"] && envelope.bodyOffset == 0)
        #expect(try h.spooled(envelope.id).hasPrefix("X-Checked: at MAIL by scripted\r\n"))
        let body = try h.body(envelope.id)
        let lines = body.components(separatedBy: "\r\n")
        #expect(lines[0] == "X-Tagged: late")
        #expect(lines[1] == "X-Checked: at MAIL by scripted")
        #expect(lines[2].hasPrefix("Received: from client.test"))
        #expect(body.contains("\r\nSubject: TAG-ME\r\n"))
        #expect(body.hasSuffix("\r\n\r\nbody\r\n"))
        #expect(envelope.messageSize == body.utf8.count)
    }

    /// A late removal replaces the written header section through the
    /// envelope (body offset), still without rewriting the file.
    @Test func lateRemovalReplacesTheHeaderSectionWithoutACopy() async throws {
        let h = try await HandlerHarness(policy: Self.policy(extra: [Scripted()]))
        try await h.send("EHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("X-Spam: yes, trust me\r\nSubject: STRIP-ME\r\n\r\nbody X-Spam: stays\r\n.\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("250 2.0.0"))
        let envelope = try #require(try h.queued().first)
        let spooled = try h.spooled(envelope.id)
        #expect(spooled.contains("\r\nX-Spam: yes, trust me\r\n"))
        #expect(envelope.bodyOffset == spooled.utf8.count - "\r\nbody X-Spam: stays\r\n".utf8.count)
        let body = try h.body(envelope.id)
        #expect(body.hasPrefix("X-Tagged: late\r\nX-Checked: at MAIL by scripted\r\nReceived: from client.test"))
        #expect(!body.contains("trust me") && body.contains("\r\nSubject: STRIP-ME\r\n"))
        #expect(body.hasSuffix("\r\n\r\nbody X-Spam: stays\r\n"))
        #expect(envelope.messageSize == body.utf8.count)
    }

    @Test func contentRefusalDiscardsTheMessage() async throws {
        let h = try await HandlerHarness(policy: Self.policy(extra: [Scripted()]))
        try await h.send("EHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("Subject: REFUSE-ME\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@example.org>\r\n")
        #expect(try await h.replies(2) == ["554 5.7.1 Content refused", "250 2.1.0 Sender <a@example.org> ok"])
        #expect(try h.queued().isEmpty)
    }

    @Test func quarantinedMessagesAreQueuedHeld() async throws {
        let h = try await HandlerHarness(policy: Self.policy(extra: [Scripted()]))
        try await h.send("EHLO client.test\r\nMAIL FROM:<hold@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("Subject: x\r\n\r\nbody\r\n.\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("250 2.0.0"))
        #expect(try h.queued().first?.state == .quarantine)
        // The reason goes with the envelope, for the quarantine Maildir's X-Postern-Reason.
        #expect(try h.queued().first?.quarantineReason == "held for review")
    }

    @Test func authPlainAndLoginAgainstAPasswordFile() async throws {
        let (policy, path) = try Self.authPolicy { config in
            var alice = PolicyConfig.UserRule()
            alice.senders = [AddressPattern("@example.org")!]
            config.users["alice"] = alice
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = try await HandlerHarness(policy: policy, clientAddress: "192.0.2.7")
        try await h.send("EHLO client.test\r\n")
        let ehlo = try await h.replies(9)
        #expect(ehlo.contains("250-AUTH PLAIN LOGIN") || ehlo.last == "250 AUTH PLAIN LOGIN")
        try await h.send("AUTH PLAIN \(Data("\0alice\0wrong".utf8).base64EncodedString())\r\n")
        #expect(try await h.replies(1) == ["535 5.7.8 Authentication credentials invalid"])
        try await h.send("AUTH LOGIN\r\n")
        #expect(try await h.replies(1) == ["334 VXNlcm5hbWU6"])
        try await h.send("\(Data("alice".utf8).base64EncodedString())\r\n")
        #expect(try await h.replies(1) == ["334 UGFzc3dvcmQ6"])
        try await h.send("\(Data("s3cret".utf8).base64EncodedString())\r\n")
        #expect(try await h.replies(1) == ["235 2.7.0 Authentication successful"])
        try await h.send("MAIL FROM:<a@example.net>\r\n")
        #expect(try await h.replies(1) == ["553 5.7.1 Sender address <a@example.net> not owned by user alice"])
        try await h.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n")
        let replies = try await h.replies(4)
        #expect(replies[1] == "250 2.1.5 Recipient <b@example.net> ok") // relayed as an authenticated user
        let envelope = try #require(try h.queued().first)
        #expect(envelope.receivedProtocol == "ESMTPA")
        #expect(try h.body(envelope.id).contains("with ESMTPA (authenticated as alice) id"))
    }

    @Test func authCancelAndGarbage() async throws {
        let (policy, path) = try Self.authPolicy()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = try await HandlerHarness(policy: policy) { $0.maxErrors = 10 }
        try await h.send("EHLO client.test\r\n")
        _ = try await h.replies(9)
        try await h.send("AUTH PLAIN\r\n")
        #expect(try await h.replies(1) == ["334 "])
        try await h.send("*\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("501 5.0.0"))
        try await h.send("AUTH PLAIN !!notbase64\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("501 5.5.2"))
        try await h.send("NOOP\r\n")
        #expect(try await h.replies(1) == ["250 2.0.0 Ok"])
    }

    @Test func anOverlongSASLResponseEndsTheExchange() async throws {
        let (policy, path) = try Self.authPolicy()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = try await HandlerHarness(policy: policy) { $0.maxErrors = 10 }
        try await h.send("EHLO client.test\r\n")
        _ = try await h.replies(9)
        try await h.send("AUTH LOGIN\r\n")
        #expect(try await h.replies(1) == ["334 VXNlcm5hbWU6"])
        try await h.send(String(repeating: "A", count: 2000) + "\r\nMAIL FROM:<a@example.org>\r\n")
        #expect(try await h.replies(2) == ["500 5.5.6 Authentication response too long", "250 2.1.0 Sender <a@example.org> ok"])
    }

    @Test func headerRulesAreAppliedOrTheMessageIsRefused() async throws {
        var rules = HeaderRules()
        rules.remove = ["X-Internal"]
        var policy = Self.policy()
        policy.rewriter = try HeaderRewriter(rules: rules)
        let h = try await HandlerHarness(policy: policy) { $0.maxHeaderBytes = 1024 }
        try await h.send("EHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("X-Internal: secret\r\nSubject: small\r\n\r\nbody\r\n.\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("250 2.0.0"))
        let stored = try h.body(try #require(try h.queued().first).id)
        #expect(!stored.contains("X-Internal") && stored.contains("Subject: small"))

        // Past max_header_size the section can't be rewritten: refused, not passed on.
        try await h.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(3)
        let padding = (0..<40).map { "X-Pad-\($0): \(String(repeating: "p", count: 60))\r\n" }.joined()
        try await h.send("X-Internal: secret\r\n" + padding) // no end of the header section yet
        try await h.send("\r\nbody\r\n.\r\n")
        #expect(try await h.replies(1) == ["552 5.3.4 Header section too large (over 1024 octets)"])
        #expect(try h.queued().count == 1)
    }
}
