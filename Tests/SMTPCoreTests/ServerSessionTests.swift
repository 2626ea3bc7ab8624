import Testing
@testable import SMTPCore

/// The session state machine without any I/O: commands in, actions out.
@Suite("Server session")
struct ServerSessionTests {
    static func session(tls: Bool = false, configure: (inout SMTPLimits) -> Void = { _ in }) -> ServerSession {
        var limits = SMTPLimits()
        configure(&limits)
        return ServerSession(configuration: .init(hostname: "relay.test", limits: limits, tlsAvailable: tls))
    }

    /// Runs a line through parser and session; returns "CODE X.Y.Z" of the
    /// (first) reply, or the action's name.
    static func send(_ session: inout ServerSession, _ line: String) -> String {
        let action: ServerSession.Action
        do { action = session.receive(try CommandParser.parse(Array(line.utf8))) }
        catch { action = session.receive(error) }
        // The policy lets everything through here; see ServerSessionPolicyTests.
        switch action {
        case .checkHELO(let reply): return describe(.reply(reply))
        case .checkSender(let transaction): return describe(.reply(session.senderChecked(transaction, refusal: nil)))
        case .checkRecipient(let recipient): return describe(session.recipientChecked(recipient, refusal: nil))
        default: return describe(action)
        }
    }

    static func describe(_ action: ServerSession.Action) -> String {
        func code(_ reply: SMTPReply) -> String { reply.enhanced.map { "\(reply.code) \($0)" } ?? "\(reply.code)" }
        switch action {
        case .reply(let reply): return code(reply)
        case .close(let replies): return "close[" + replies.map(code).joined(separator: ",") + "]"
        case .startTLS(let reply): return "tls " + code(reply)
        case .startData(let reply): return "data " + code(reply)
        case .startChunk(let size): return "chunk \(size)"
        case .discardChunk(let size, let reply): return "discard \(size) " + code(reply)
        case .commit: return "commit"
        case .abortMessage(let reply): return "abort " + code(reply)
        case .checkHELO(let reply): return "check helo " + code(reply)
        case .checkSender: return "check sender"
        case .checkRecipient: return "check recipient"
        case .authenticate(let mechanism, let initial): return "auth \(mechanism)" + (initial == nil ? "" : " +initial")
        }
    }

    static func expectDialogue(_ session: inout ServerSession, _ steps: [(String, String)],
                               sourceLocation: SourceLocation = #_sourceLocation) {
        for (line, expected) in steps {
            #expect(send(&session, line) == expected, "\(line)", sourceLocation: sourceLocation)
        }
    }

    @Test func fullTransaction() {
        var s = Self.session()
        Self.expectDialogue(&s, [
            ("EHLO client.test", "250"),
            ("MAIL FROM:<a@example.org>", "250 2.1.0"),
            ("RCPT TO:<b@example.net>", "250 2.1.5"),
            ("RCPT TO:<c@example.net>", "250 2.1.5"),
            ("DATA", "data 354"),
        ])
        let accepted2320 = s.contentReceived(100); #expect(accepted2320)
        guard case .commit(let transaction) = s.contentEnded() else { Issue.record("no commit"); return }
        #expect(transaction.recipients.count == 2)
        #expect(transaction.sender.description == "<a@example.org>")
        let reply = s.commitSucceeded(queueID: "ABC")
        #expect(reply.code == 250 && reply.enhanced == EnhancedStatusCode(2, 0, 0))
        #expect(s.transaction == nil)
        Self.expectDialogue(&s, [("MAIL FROM:<>", "250 2.1.0"), ("QUIT", "close[221 2.0.0]")])
    }

    @Test func ehloAdvertisesExtensions() {
        var s = Self.session(tls: true) { $0.maxMessageSize = 12345 }
        guard case .checkHELO(let reply) = s.receive(.ehlo("c")) else { Issue.record("no reply"); return }
        #expect(reply.lines == ["relay.test", "PIPELINING", "SIZE 12345", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN", "CHUNKING", "STARTTLS"])
        #expect(reply.enhanced == nil) // RFC 2034 §3: none on EHLO replies
        s.tlsEstablished()
        guard case .checkHELO(let after) = s.receive(.ehlo("c")) else { Issue.record("no reply"); return }
        #expect(!after.lines.contains("STARTTLS"))
    }

    @Test func sequencingErrors() {
        var s = Self.session() { $0.maxErrors = 100 }
        Self.expectDialogue(&s, [
            ("MAIL FROM:<a@b.example>", "503 5.5.1"),     // before EHLO
            ("EHLO c", "250"),
            ("RCPT TO:<b@example.net>", "503 5.5.1"),     // before MAIL
            ("DATA", "503 5.5.1"),
            ("MAIL FROM:<a@b.example>", "250 2.1.0"),
            ("MAIL FROM:<a@b.example>", "503 5.5.1"),     // nested
            ("DATA", "554 5.5.1"),                         // no valid recipients
            ("RSET", "250 2.0.0"),
            ("RCPT TO:<b@example.net>", "503 5.5.1"),     // RSET cleared MAIL
            ("STARTTLS", "502 5.5.1"),                     // not configured
            ("AUTH PLAIN", "502 5.5.1"),
            ("EXPN x", "502 5.5.1"),
            ("VRFY x", "252 2.0.0"),
            ("HELP", "214 2.0.0"),
            ("NOOP", "250 2.0.0"),
            ("FOO", "500 5.5.2"),
        ])
    }

    @Test func heloAlsoWorksAndResetsTheTransaction() {
        var s = Self.session()
        Self.expectDialogue(&s, [("HELO c", "250"), ("MAIL FROM:<a@b.example>", "250 2.1.0"), ("HELO c", "250"),
                                 ("RCPT TO:<b@example.net>", "503 5.5.1")])
        #expect(s.greeting == ClientGreeting(name: "c", extended: false))
    }

    @Test func threeErrorsClose() {
        var s = Self.session()
        Self.expectDialogue(&s, [("EHLO c", "250"), ("FOO", "500 5.5.2"), ("RCPT TO:<a@b.example>", "503 5.5.1"),
                                 ("BAR", "close[500 5.5.2,421 4.7.0]")])
    }

    @Test func httpClosesSilently() {
        var s = Self.session()
        #expect(Self.send(&s, "GET / HTTP/1.1") == "close[]")
    }

    @Test func lineTooLongIsAnErrorButNotFatal() {
        var s = Self.session()
        #expect(Self.describe(s.lineTooLong()) == "500 5.5.6")
        #expect(Self.send(&s, "EHLO c") == "250")
    }

    @Test func recipientLimit() {
        var s = Self.session() { $0.maxRecipients = 2 }
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example>", "250 2.1.0"),
                                 ("RCPT TO:<1@x.example>", "250 2.1.5"), ("RCPT TO:<2@x.example>", "250 2.1.5"),
                                 ("RCPT TO:<3@x.example>", "452 4.5.3"), ("RCPT TO:<4@x.example>", "452 4.5.3")])
        #expect(s.errorCount == 0)
        #expect(s.transaction?.recipients.count == 2)
    }

    @Test func sizeRefusedAtMailAndAfterData() {
        var s = Self.session() { $0.maxMessageSize = 1000 }
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example> SIZE=1001", "552 5.3.4"),
                                 ("MAIL FROM:<a@b.example> SIZE=1000", "250 2.1.0"),
                                 ("RCPT TO:<b@x.example>", "250 2.1.5"), ("DATA", "data 354")])
        let accepted6318 = s.contentReceived(600); #expect(accepted6318)
        let accepted6358 = s.contentReceived(600); #expect(!accepted6358) // over: stop spooling, read on
        #expect(Self.describe(s.contentEnded()) == "abort 552 5.3.4")
        #expect(s.transaction == nil)
        #expect(Self.send(&s, "MAIL FROM:<a@b.example>") == "250 2.1.0") // connection still usable
    }

    @Test func unknownParameters() {
        var s = Self.session()
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example> FOO=BAR", "555 5.5.4"),
                                 ("MAIL FROM:<a@b.example>", "250 2.1.0"),
                                 ("RCPT TO:<b@x.example> NOTIFY=NEVER XFOO", "555 5.5.4")])
    }

    /// RCPT's DSN parameters (RFC 3461 §4) stay with their recipient; a bad
    /// one refuses the RCPT with 501 and counts as an error.
    @Test func recipientParametersAreKept() {
        var s = Self.session() { $0.maxErrors = 10 }
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example> RET=HDRS ENVID=abc+2Bdef", "250 2.1.0"),
                                 ("RCPT TO:<b@x.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@x", "250 2.1.5"),
                                 ("RCPT TO:<c@x.example> NOTIFY=NEVER,DELAY", "501 5.5.4"),
                                 ("RCPT TO:<d@x.example>", "250 2.1.5")])
        #expect(s.errorCount == 1)
        let transaction = s.transaction
        #expect(transaction?.parameters.dsnReturn == .headers && transaction?.parameters.envelopeID == "abc+def")
        #expect(transaction?.recipients.map(\.address) == ["b@x.example", "d@x.example"])
        #expect(transaction?.recipientParameters == [
            RecipientParameters(notify: [.success, .failure],
                                originalRecipient: OriginalRecipient(addressType: "rfc822", address: "bob@x")),
            RecipientParameters(),
        ])
    }

    @Test func smtputf8Required() {
        var s = Self.session() { $0.maxErrors = 10 }
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<usér@b.example>", "553 5.6.7"),
                                 ("MAIL FROM:<a@b.example>", "250 2.1.0"), ("RCPT TO:<用户@例子.广告>", "553 5.6.7"),
                                 ("RSET", "250 2.0.0"), ("MAIL FROM:<usér@b.example> SMTPUTF8", "250 2.1.0"),
                                 ("RCPT TO:<用户@例子.广告>", "250 2.1.5")])
    }

    @Test func bdatTransaction() {
        var s = Self.session()
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example>", "250 2.1.0"),
                                 ("RCPT TO:<b@x.example>", "250 2.1.5"), ("BDAT 10", "chunk 10")])
        let accepted7730 = s.contentReceived(10); #expect(accepted7730)
        #expect(Self.describe(s.contentEnded()) == "250 2.0.0")
        #expect(Self.send(&s, "DATA") == "503 5.5.1") // no DATA after BDAT (RFC 3030 §2)
        #expect(Self.send(&s, "BDAT 5 LAST") == "chunk 5")
        let accepted7982 = s.contentReceived(5); #expect(accepted7982)
        guard case .commit(let transaction) = s.contentEnded() else { Issue.record("no commit"); return }
        #expect(transaction.receivedSize == 15)
    }

    @Test func bdatOutOfSequenceDiscardsTheChunk() {
        var s = Self.session()
        #expect(Self.send(&s, "EHLO c") == "250")
        #expect(Self.send(&s, "BDAT 7") == "discard 7 503 5.5.1")
        #expect(Self.send(&s, "MAIL FROM:<a@b.example>") == "250 2.1.0")
        #expect(Self.send(&s, "BDAT 7 LAST") == "discard 7 554 5.5.1")
        #expect(Self.send(&s, "BDAT x") == "close[501 5.5.4]") // chunk length unknown: stream lost
    }

    @Test func bareLineEndingInBdatRefusedAtTheEnd() {
        var s = Self.session()
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example>", "250 2.1.0"),
                                 ("RCPT TO:<b@x.example>", "250 2.1.5"), ("BDAT 3 LAST", "chunk 3")])
        s.markTextDefect(.bareLineEnding)
        #expect(Self.describe(s.contentEnded()) == "abort 554 5.6.0")
    }

    @Test(arguments: [TextDefect.nul, .longLine])
    func textDefectRefusedAtTheEndAndSessionGoesOn(_ defect: TextDefect) {
        var s = Self.session()
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example>", "250 2.1.0"),
                                 ("RCPT TO:<b@x.example>", "250 2.1.5"), ("DATA", "data 354")])
        s.markTextDefect(defect)
        #expect(Self.describe(s.contentEnded()) == "abort 554 5.6.0")
        #expect(Self.send(&s, "MAIL FROM:<a@b.example>") == "250 2.1.0")
    }

    @Test func junkCommandsPastTheLimitBecomeErrors() {
        var s = Self.session { $0.maxJunkCommands = 5 }
        for _ in 0..<5 { #expect(Self.send(&s, "NOOP") == "250 2.0.0") }
        #expect(Self.send(&s, "VRFY x") == "252 2.0.0")
        #expect(Self.send(&s, "RSET") == "250 2.0.0")
        #expect(Self.send(&s, "NOOP") == "close[421 4.7.0]") // the third error
    }

    @Test func anAcceptedMessageResetsTheJunkCount() {
        var s = Self.session { $0.maxJunkCommands = 2 }
        Self.expectDialogue(&s, [("EHLO c", "250"), ("NOOP", "250 2.0.0"), ("MAIL FROM:<a@b.example>", "250 2.1.0"),
                                 ("RCPT TO:<b@x.example>", "250 2.1.5"), ("DATA", "data 354")])
        _ = s.contentEnded()
        _ = s.commitSucceeded(queueID: "X")
        #expect(s.junkCommands == 0 && s.errorCount == 0)
    }

    @Test func bareLineEndingInDataCloses() {
        var s = Self.session()
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example>", "250 2.1.0"),
                                 ("RCPT TO:<b@x.example>", "250 2.1.5"), ("DATA", "data 354")])
        #expect(Self.describe(s.bareLineEnding()) == "close[554 5.6.0]")
    }

    @Test func startTLSForgetsEverything() {
        var s = Self.session(tls: true) { $0.maxErrors = 10 }
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example>", "250 2.1.0"),
                                 ("STARTTLS", "503 5.5.1"), ("RSET", "250 2.0.0"), ("STARTTLS", "tls 220 2.0.0")])
        s.tlsEstablished()
        #expect(s.greeting == nil)
        Self.expectDialogue(&s, [("MAIL FROM:<a@b.example>", "503 5.5.1"), ("EHLO c", "250"),
                                 ("STARTTLS", "503 5.5.1"), ("MAIL FROM:<a@b.example>", "250 2.1.0")])
    }

    @Test func commitFailureIsTemporary() {
        var s = Self.session()
        Self.expectDialogue(&s, [("EHLO c", "250"), ("MAIL FROM:<a@b.example>", "250 2.1.0"),
                                 ("RCPT TO:<b@x.example>", "250 2.1.5"), ("DATA", "data 354")])
        _ = s.contentEnded()
        let reply = s.commitFailed()
        #expect(reply.code == 451 && reply.enhanced == EnhancedStatusCode(4, 3, 0))
        #expect(Self.send(&s, "MAIL FROM:<a@b.example>") == "250 2.1.0")
    }

    @Test func timeoutSays421() {
        var s = Self.session()
        #expect(Self.describe(s.timedOut()) == "close[421 4.4.2]")
    }
}
