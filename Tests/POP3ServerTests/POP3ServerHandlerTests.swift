import Foundation
import Logging
import NIOCore
import NIOEmbedded
import POP3Core
import Testing
@testable import POP3Server
@testable import SMTPServer

/// The handler on an in-memory channel (the testing event loop is
/// thread-safe: the password check and the store answer from other threads).
final class POP3Harness {
    static let passwordPath: String = {
        let path = NSTemporaryDirectory() + "postern-pop3-passwd-" + UUID().uuidString
        let hash = try! PasswordHash.make(password: "secret", scheme: .sha512)
        try! "alice:\(hash)\nbob:\(hash)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    let channel: NIOAsyncTestingChannel
    let accounts: TestMailAccounts
    let context: POP3ServerContext

    init(accounts: TestMailAccounts = TestMailAccounts(), tls: Bool = true, allowPlaintext: Bool = true,
         throttle: AuthThrottle? = nil, passwords: PasswordFile? = PasswordFile(path: POP3Harness.passwordPath),
         context shared: POP3ServerContext? = nil, configure: (inout POP3ServerContext) -> Void = { _ in }) async throws {
        self.accounts = accounts
        var context = shared ?? POP3ServerContext(
            hostname: "pop.test", tls: nil, allowPlaintextAuth: allowPlaintext, auth: { (passwords, throttle) },
            accounts: accounts, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            failureDelay: .zero)
        configure(&context)
        self.context = context
        let handlerContext = context
        let channel = NIOAsyncTestingChannel()
        self.channel = channel
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(POP3ServerHandler(server: handlerContext, clientAddress: "192.0.2.7", implicitTLS: tls))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 110))
        #expect(try await lines(1) == ["+OK pop.test POP3 server ready"])
    }

    func send(_ text: String) async throws {
        try await channel.writeInbound(ByteBuffer(string: text))
    }

    private var pending = ""

    /// The next `count` lines the server writes.
    func lines(_ count: Int) async throws -> [String] {
        var lines: [String] = []
        while lines.count < count {
            while let range = pending.range(of: "\r\n"), lines.count < count {
                lines.append(String(pending[..<range.lowerBound]))
                pending = String(pending[range.upperBound...])
            }
            if lines.count == count { break }
            let buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            pending += String(buffer: buffer)
        }
        return lines
    }

    /// A multi-line response: the status line and everything up to ".".
    func multiline() async throws -> [String] {
        var lines = try await self.lines(1)
        while lines.last != "." || lines.count == 1 { lines += try await self.lines(1) }
        return lines
    }

    func login(_ user: String = "alice") async throws {
        try await send("USER \(user)\r\nPASS secret\r\n")
        let replies = try await lines(2)
        #expect(replies[0] == "+OK Send PASS")
        #expect(replies[1].hasPrefix("+OK Logged in"), "\(replies[1])")
    }
}

@Suite("POP3 handler on a testing channel", .timeLimit(.minutes(1)))
struct POP3ServerHandlerTests {
    static let first = "Subject: one\r\nFrom: a@example.org\r\n\r\nbody line 1\r\n.starts with a dot\r\nbody line 3\r\n"
    static let second = "Subject: two\r\n\r\nshort\r\n"

    static func filled() -> TestMailAccounts {
        let accounts = TestMailAccounts()
        accounts.add("alice", first, queueID: "Q1")
        accounts.add("alice", second)
        accounts.add("bob", "Subject: bob's\r\n\r\nx\r\n")
        return accounts
    }

    @Test func statListUidlRetrTop() async throws {
        let h = try await POP3Harness(accounts: Self.filled())
        try await h.login()
        try await h.send("STAT\r\n")
        let size1 = Self.first.utf8.count, size2 = Self.second.utf8.count
        #expect(try await h.lines(1) == ["+OK 2 \(size1 + size2)"])
        try await h.send("LIST\r\nUIDL\r\n")
        #expect(try await h.multiline() == ["+OK 2 messages (\(size1 + size2) octets)", "1 \(size1)", "2 \(size2)", "."])
        #expect(try await h.multiline() == ["+OK Unique-ID listing follows", "1 1700000000.M1P1.test", "2 1700000000.M2P1.test", "."])
        try await h.send("RETR 1\r\n")
        #expect(try await h.multiline() == ["+OK \(size1) octets", "Subject: one", "From: a@example.org", "", "body line 1",
                                            "..starts with a dot", "body line 3", "."])
        try await h.send("TOP 1 1\r\nTOP 2 0\r\n")
        #expect(try await h.multiline() == ["+OK Top of message follows", "Subject: one", "From: a@example.org", "", "body line 1", "."])
        #expect(try await h.multiline() == ["+OK Top of message follows", "Subject: two", "", "."])
    }

    @Test func deleThenQuitExpunges() async throws {
        let h = try await POP3Harness(accounts: Self.filled())
        try await h.login()
        try await h.send("DELE 1\r\nRETR 1\r\nSTAT\r\nQUIT\r\n")
        #expect(try await h.lines(4) == ["+OK Message 1 deleted", "-ERR Message 1 already deleted",
                                         "+OK 1 \(Self.second.utf8.count)", "+OK pop.test POP3 server signing off (1 messages left)"])
        #expect(h.accounts.messages("alice").map(\.uid) == [2])
        #expect(h.accounts.messages("bob").count == 1)
    }

    @Test func rsetAndDroppedConnectionDeleteNothing() async throws {
        let h = try await POP3Harness(accounts: Self.filled())
        try await h.login()
        try await h.send("DELE 1\r\nDELE 2\r\nRSET\r\nQUIT\r\n")
        #expect(try await h.lines(4).last == "+OK pop.test POP3 server signing off (2 messages left)")
        #expect(h.accounts.messages("alice").count == 2)

        let dropped = try await POP3Harness(accounts: h.accounts)
        try await dropped.login()
        try await dropped.send("DELE 1\r\n")
        _ = try await dropped.lines(1)
        try await dropped.channel.close()
        #expect(h.accounts.messages("alice").count == 2)
    }

    @Test func wrongPasswordIsAuthErrorAndThrottled() async throws {
        let throttle = AuthThrottle(maxFailures: 2, window: 60)
        let h = try await POP3Harness(accounts: Self.filled(), throttle: throttle)
        try await h.send("USER alice\r\nPASS wrong\r\n")
        #expect(try await h.lines(2) == ["+OK Send PASS", "-ERR [AUTH] Authentication failed"])
        try await h.send("AUTH PLAIN \(Self.plain("alice", "nope"))\r\n")
        // The address reached its limit: the session ends.
        #expect(try await h.lines(1) == ["-ERR [AUTH] Authentication failed"])
        try await h.channel.closeFuture.get()

        // From the same address the right password gets the same answer.
        let again = try await POP3Harness(accounts: h.accounts, throttle: throttle)
        try await again.send("USER alice\r\nPASS secret\r\n")
        #expect(try await again.lines(2) == ["+OK Send PASS", "-ERR [AUTH] Authentication failed"])
    }

    @Test func failureWaitsForTheDelay() async throws {
        let h = try await POP3Harness(accounts: Self.filled()) { $0.failureDelay = .seconds(1) }
        try await h.send("USER alice\r\nPASS wrong\r\n")
        #expect(try await h.lines(1) == ["+OK Send PASS"])
        // The check runs on another thread; the answer waits for the
        // testing clock to pass the delay.
        var advanced = TimeAmount.zero
        var reply: ByteBuffer?
        while reply == nil && advanced < .seconds(30) {
            try await Task.sleep(for: .milliseconds(20))
            reply = try await h.channel.readOutbound(as: ByteBuffer.self)
            if reply == nil {
                await h.channel.testingEventLoop.advanceTime(by: .milliseconds(250))
                advanced = advanced + .milliseconds(250)
            }
        }
        #expect(reply.map { String(buffer: $0) } == "-ERR [AUTH] Authentication failed\r\n")
        #expect(advanced >= .seconds(1))
    }

    static func plain(_ user: String, _ password: String) -> String {
        Data("\0\(user)\0\(password)".utf8).base64EncodedString()
    }

    @Test func saslPlainWithContinuation() async throws {
        let h = try await POP3Harness(accounts: Self.filled())
        try await h.send("AUTH PLAIN\r\n")
        #expect(try await h.lines(1) == ["+ "])
        try await h.send("\(Self.plain("bob", "secret"))\r\nSTAT\r\n")
        let replies = try await h.lines(2)
        #expect(replies[0] == "+OK Logged in, 1 messages (21 octets)")
        #expect(replies[1] == "+OK 1 21")
    }

    @Test func plaintextRefusedWithoutTLS() async throws {
        let h = try await POP3Harness(tls: false, allowPlaintext: false)
        try await h.send("USER alice\r\nCAPA\r\n")
        #expect(try await h.lines(1) == ["-ERR [AUTH] Plaintext authentication disallowed on non-secure connections, use STLS"])
        let capa = try await h.multiline()
        #expect(!capa.contains("USER") && !capa.contains("STLS"), "no certificate here: STLS is not offered")
    }

    @Test func secondSessionOfAUserIsInUse() async throws {
        let first = try await POP3Harness(accounts: Self.filled())
        try await first.login()
        let second = try await POP3Harness(accounts: first.accounts, context: first.context)
        try await second.send("USER alice\r\nPASS secret\r\n")
        #expect(try await second.lines(2) == ["+OK Send PASS", "-ERR [IN-USE] Maildrop already in use by another session"])
        try await first.send("QUIT\r\n")
        _ = try await first.lines(1)
        try await second.send("USER alice\r\nPASS secret\r\n")
        #expect(try await second.lines(2)[1].hasPrefix("+OK Logged in"))
    }

    @Test func storeFaultIsTemporary() async throws {
        let accounts = Self.filled()
        accounts.failing.withLock { $0 = true }
        let h = try await POP3Harness(accounts: accounts)
        try await h.send("USER alice\r\nPASS secret\r\n")
        #expect(try await h.lines(2)[1] == "-ERR [SYS/TEMP] Maildrop temporarily unavailable")
        accounts.failing.withLock { $0 = false }
        try await h.login()
    }

    @Test func badInput() async throws {
        let h = try await POP3Harness(accounts: Self.filled())
        try await h.send("STAT\r\nRETR 1\r\nFROB\r\n" + String(repeating: "X", count: 3000) + "\r\nAPOP alice abc\r\n")
        #expect(try await h.lines(5) == ["-ERR Not logged in", "-ERR Not logged in", "-ERR Unknown command FROB",
                                         "-ERR Line too long", "-ERR Unknown command APOP"])
        try await h.login()
        try await h.send("RETR 9\r\nTOP 1\r\nDELE 0\r\n")
        #expect(try await h.lines(3) == ["-ERR No such message", "-ERR Syntax: TOP msg lines", "-ERR Invalid message number"])
    }

    @Test func messageGoneSinceLogin() async throws {
        let h = try await POP3Harness(accounts: Self.filled())
        try await h.login()
        _ = h.accounts.mailboxes.withLock { $0["alice"]?.removeFirst() }
        try await h.send("RETR 1\r\nQUIT\r\n")
        #expect(try await h.lines(2) == ["-ERR Message no longer available", "+OK pop.test POP3 server signing off (2 messages left)"])
    }

    @Test func updateThatCannotRemoveSaysSo() async throws {
        let h = try await POP3Harness(accounts: Self.filled())
        try await h.login()
        try await h.send("DELE 2\r\n")
        _ = try await h.lines(1)
        _ = h.accounts.mailboxes.withLock { $0["alice"]?.removeLast() }
        try await h.send("QUIT\r\n")
        #expect(try await h.lines(1) == ["-ERR [SYS/TEMP] 1 deleted messages not removed"])
    }

    @Test func idleSessionIsLoggedOutWithoutUpdate() async throws {
        let h = try await POP3Harness(accounts: Self.filled()) { $0.limits.idleTimeoutSeconds = 600 }
        try await h.login()
        try await h.send("DELE 1\r\n")
        _ = try await h.lines(1)
        await h.channel.testingEventLoop.advanceTime(by: .seconds(599))
        try await h.send("NOOP\r\n")
        #expect(try await h.lines(1) == ["+OK"])
        await h.channel.testingEventLoop.advanceTime(by: .seconds(601))
        #expect(try await h.lines(1) == ["-ERR Autologout: idle for too long"])
        try await h.channel.closeFuture.get()
        #expect(h.accounts.messages("alice").count == 2)
    }

    @Test func shutdownNoticeEndsTheSession() async throws {
        let h = try await POP3Harness(accounts: Self.filled())
        try await h.login()
        h.channel.pipeline.fireUserInboundEventTriggered(ShutdownNotice(force: false))
        #expect(try await h.lines(1) == ["-ERR [SYS/TEMP] Server shutting down, try again later"])
    }

    @Test func largeMessageIsStreamedWhole() async throws {
        let accounts = TestMailAccounts()
        let body = (0..<20_000).map { $0 % 5 == 0 ? ".line \($0)" : "line \($0)" }.joined(separator: "\r\n") + "\r\n"
        accounts.add("alice", "Subject: big\r\n\r\n" + body)
        let h = try await POP3Harness(accounts: accounts)
        try await h.login()
        try await h.send("RETR 1\r\nNOOP\r\n")
        let lines = try await h.multiline()
        #expect(lines.count == 20_004) // status, header and blank line, body, "."
        #expect(lines[3] == "..line 0" && lines[4] == "line 1" && lines[20_002] == "line 19999")
        #expect(try await h.lines(1) == ["+OK"])
    }
}
