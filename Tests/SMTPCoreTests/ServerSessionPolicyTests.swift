import Testing
@testable import SMTPCore

/// The session's side of policy checks and SMTP AUTH (RFC 4954).
@Suite("Server session: policy and AUTH")
struct ServerSessionPolicyTests {
    typealias T = ServerSessionTests

    static func session(tls: Bool = false, auth: [String] = ["PLAIN", "LOGIN"], requireTLS: Bool = true) -> ServerSession {
        var limits = SMTPLimits()
        limits.maxErrors = 10
        return ServerSession(configuration: .init(hostname: "relay.test", limits: limits, tlsAvailable: tls, authMechanisms: auth,
                                                  authRequiresTLS: requireTLS, maxAuthFailures: 2))
    }

    static func action(_ session: inout ServerSession, _ line: String) -> ServerSession.Action {
        do { return session.receive(try CommandParser.parse(Array(line.utf8))) }
        catch { return session.receive(error) }
    }

    static let refusal = SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 7, 1), text: "Relay access denied")

    @Test func refusedSenderStartsNoTransaction() {
        var s = Self.session()
        _ = T.send(&s, "EHLO client.test")
        guard case .checkSender(let proposed) = Self.action(&s, "MAIL FROM:<a@example.org>") else {
            Issue.record("no sender check"); return
        }
        #expect(s.transaction == nil)
        #expect(s.senderChecked(proposed, refusal: Self.refusal) == Self.refusal)
        #expect(s.transaction == nil)
        #expect(T.send(&s, "RCPT TO:<b@example.net>") == "503 5.5.1")
    }

    @Test func refusedRecipientIsNotAdded() {
        var s = Self.session()
        T.expectDialogue(&s, [("EHLO client.test", "250"), ("MAIL FROM:<a@example.org>", "250 2.1.0")])
        guard case .checkRecipient(let recipient) = Self.action(&s, "RCPT TO:<b@example.net>") else {
            Issue.record("no recipient check"); return
        }
        #expect(s.recipientChecked(recipient, refusal: Self.refusal) == .reply(Self.refusal))
        #expect(s.transaction?.recipients.isEmpty == true)
        #expect(T.send(&s, "DATA") == "554 5.5.1")
    }

    @Test func refusedHELOForgetsTheGreeting() {
        var s = Self.session()
        guard case .checkHELO = Self.action(&s, "EHLO bad.example") else { Issue.record("no helo check"); return }
        _ = s.heloRefused(Self.refusal)
        #expect(s.greeting == nil)
        #expect(T.send(&s, "MAIL FROM:<a@example.org>") == "503 5.5.1")
    }

    @Test func sizeLimitFollowsThePolicy() {
        var s = Self.session()
        s.messageSizeLimit = 2048
        guard case .checkHELO(let reply) = Self.action(&s, "EHLO client.test") else { Issue.record("no helo check"); return }
        #expect(reply.lines.contains("SIZE 2048"))
        #expect(T.send(&s, "MAIL FROM:<a@example.org> SIZE=4096") == "552 5.3.4")
    }

    @Test func authIsOfferedOnlyAfterTLSUnlessPlaintextIsAllowed() {
        var plain = Self.session(tls: true)
        guard case .checkHELO(let before) = Self.action(&plain, "EHLO client.test") else { Issue.record("no helo"); return }
        #expect(!before.lines.contains { $0.hasPrefix("AUTH") })
        #expect(T.send(&plain, "AUTH PLAIN") == "538 5.7.11")
        plain.tlsEstablished()
        guard case .checkHELO(let after) = Self.action(&plain, "EHLO client.test") else { Issue.record("no helo"); return }
        #expect(after.lines.contains("AUTH PLAIN LOGIN"))
        #expect(T.send(&plain, "AUTH PLAIN dGVzdA==") == "auth PLAIN +initial")
        #expect(plain.isAuthenticating)

        var loopback = Self.session(requireTLS: false)
        guard case .checkHELO(let offered) = Self.action(&loopback, "EHLO client.test") else { Issue.record("no helo"); return }
        #expect(offered.lines.contains("AUTH PLAIN LOGIN"))
    }

    @Test func authSequenceRules() {
        var s = Self.session(requireTLS: false)
        #expect(T.send(&s, "AUTH PLAIN") == "503 5.5.1") // before EHLO
        _ = T.send(&s, "HELO client.test")
        #expect(T.send(&s, "AUTH PLAIN") == "503 5.5.1") // HELO is not enough
        _ = T.send(&s, "EHLO client.test")
        #expect(T.send(&s, "AUTH CRAM-MD5") == "504 5.5.4")
        #expect(T.send(&s, "AUTH LOGIN") == "auth LOGIN")
        #expect(s.authSucceeded(user: "alice").code == 235)
        #expect(s.authenticatedUser == "alice")
        #expect(T.send(&s, "AUTH PLAIN") == "503 5.5.1") // already authenticated
        #expect(s.receivedProtocol == "ESMTPA")
        T.expectDialogue(&s, [("MAIL FROM:<a@example.org>", "250 2.1.0")])
        #expect(T.send(&s, "AUTH PLAIN") == "503 5.5.1") // in a transaction
    }

    @Test func authDisabled() {
        var s = Self.session(auth: [])
        guard case .checkHELO(let reply) = Self.action(&s, "EHLO client.test") else { Issue.record("no helo"); return }
        #expect(!reply.lines.contains { $0.hasPrefix("AUTH") })
        #expect(T.send(&s, "AUTH PLAIN") == "502 5.5.1")
    }

    @Test func repeatedFailuresClose() {
        var s = Self.session(requireTLS: false)
        _ = T.send(&s, "EHLO client.test")
        let wrong = SMTPReply(code: 535, enhanced: EnhancedStatusCode(5, 7, 8), text: "Authentication credentials invalid")
        _ = T.send(&s, "AUTH PLAIN")
        #expect(T.describe(s.authFailed(wrong)) == "535 5.7.8")
        _ = T.send(&s, "AUTH PLAIN")
        #expect(T.describe(s.authFailed(wrong)) == "close[535 5.7.8,421 4.7.0]")
    }

    @Test func throttledAddressIsClosed() {
        var s = Self.session(requireTLS: false)
        _ = T.send(&s, "EHLO client.test")
        _ = T.send(&s, "AUTH LOGIN")
        let wrong = SMTPReply(code: 535, enhanced: EnhancedStatusCode(5, 7, 8), text: "Authentication credentials invalid")
        #expect(T.describe(s.authFailed(wrong, close: true)) == "close[535 5.7.8,421 4.7.0]")
    }

    @Test func cancelledAuthCountsAsAnError() {
        var s = Self.session(requireTLS: false)
        _ = T.send(&s, "EHLO client.test")
        _ = T.send(&s, "AUTH LOGIN")
        let cancelled = SMTPReply(code: 501, enhanced: EnhancedStatusCode(5, 0, 0), text: "Authentication cancelled")
        #expect(T.describe(s.authAborted(cancelled)) == "501 5.0.0")
        #expect(!s.isAuthenticating)
        #expect(s.authenticatedUser == nil)
    }

    @Test func tlsForgetsAuthentication() {
        var s = Self.session(tls: true, requireTLS: false)
        _ = T.send(&s, "EHLO client.test")
        _ = T.send(&s, "AUTH PLAIN")
        _ = s.authSucceeded(user: "alice")
        s.tlsEstablished()
        #expect(s.authenticatedUser == nil)
    }

    @Test func contentRefusalEndsTheTransaction() {
        var s = Self.session()
        T.expectDialogue(&s, [("EHLO client.test", "250"), ("MAIL FROM:<a@example.org>", "250 2.1.0"),
                              ("RCPT TO:<b@example.net>", "250 2.1.5"), ("DATA", "data 354")])
        guard case .commit = s.contentEnded() else { Issue.record("no commit"); return }
        let reply = SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 7, 1), text: "Attachment refused")
        #expect(s.commitRefused(reply) == reply)
        #expect(s.transaction == nil)
        T.expectDialogue(&s, [("MAIL FROM:<a@example.org>", "250 2.1.0")])
    }

    @Test("MAIL FROM takes AUTH= (RFC 4954 §5) and ignores it", arguments: [
        ("MAIL FROM:<a@example.org> AUTH=<>", "250 2.1.0"),
        ("MAIL FROM:<a@example.org> AUTH=alice+40example.org", "250 2.1.0"),
        ("MAIL FROM:<a@example.org> AUTH=", "501 5.5.4"),
        ("MAIL FROM:<a@example.org> AUTH=a=b", "501 5.5.4"),
        ("MAIL FROM:<a@example.org> AUTH=alice+4", "501 5.5.4"), // xtext: "+" and two hex digits
    ])
    func authParameter(line: String, expected: String) {
        var s = Self.session(requireTLS: false)
        _ = T.send(&s, "EHLO client.test")
        #expect(T.send(&s, line) == expected)
    }

    @Test func tooManyRefusedRecipientsClose() {
        var limits = SMTPLimits()
        limits.maxRefusedRecipients = 3
        var s = ServerSession(configuration: .init(hostname: "relay.test", limits: limits))
        T.expectDialogue(&s, [("EHLO client.test", "250"), ("MAIL FROM:<a@example.org>", "250 2.1.0")])
        for expected in ["554 5.7.1", "554 5.7.1", "close[554 5.7.1,421 4.7.0]"] {
            guard case .checkRecipient(let recipient) = Self.action(&s, "RCPT TO:<b@example.net>") else {
                Issue.record("no recipient check"); return
            }
            #expect(T.describe(s.recipientChecked(recipient, refusal: Self.refusal)) == expected)
        }
    }
}
