import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Policy
import Testing
@testable import SMTPCore
@testable import SMTPServer

/// Backpressure, deadlines and message-text checks in the handler.
/// A handler waiting for a reply that never comes must fail, not hang CI.
@Suite("SMTP handler: backpressure, deadlines, text checks", .timeLimit(.minutes(1)))
struct HandlerFlowTests {
    @Test func commandsWaitWhileRepliesCannotBeSent() async throws {
        let h = try await HandlerHarness { $0.maxJunkCommands = 0 }
        h.channel.isWritable = false
        try await h.send(String(repeating: "NOOP\r\n", count: 200))
        #expect(try await h.channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(Self.autoRead(h.channel) == false)
        h.channel.isWritable = true
        let channel = h.channel
        try await channel.testingEventLoop.executeInContext { channel.pipeline.fireChannelWritabilityChanged() }
        let replies = try await h.replies(200)
        #expect(replies.count == 200 && replies.allSatisfy { $0 == "250 2.0.0 Ok" })
        #expect(Self.autoRead(h.channel) == true)
    }

    /// The testing channel's getOption always says true; what was set is kept here.
    static func autoRead(_ channel: NIOAsyncTestingChannel) -> Bool? {
        channel.options.first { $0.option is ChannelOptions.Types.AutoReadOption }?.value as? Bool
    }

    @Test func aLineDrippedByteByByteIsCutAtItsDeadline() async throws {
        let h = try await HandlerHarness { $0.commandTimeoutSeconds = 20 }
        for byte in "NOOP" {
            try await h.send(String(byte))
            await h.channel.testingEventLoop.advanceTime(by: .seconds(6))
        }
        // 24 s after the first octet, though never 20 s without one.
        #expect(try await h.replies(1) == ["421 4.4.2 relay.test Timeout, closing connection"])
        try await h.channel.closeFuture.get()
    }

    @Test func completeCommandsRestartTheTimer() async throws {
        let h = try await HandlerHarness { $0.commandTimeoutSeconds = 20 }
        for _ in 0..<5 {
            await h.channel.testingEventLoop.advanceTime(by: .seconds(15))
            try await h.send("NOOP\r\n")
            #expect(try await h.replies(1) == ["250 2.0.0 Ok"])
        }
    }

    @Test func slowDataIsCutAfterTheGrace() async throws {
        let h = try await HandlerHarness {
            $0.dataRateGraceSeconds = 10
            $0.minDataRate = 100
        }
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        // 12 octets every 2 s: the deadline (10 s + 72 octets / 100) passes at 10.72 s.
        for _ in 0..<6 {
            try await h.send("0123456789\r\n")
            await h.channel.testingEventLoop.advanceTime(by: .seconds(2))
        }
        #expect(try await h.replies(1) == ["421 4.4.2 relay.test Data transfer too slow, closing connection"])
        #expect(try h.queued().isEmpty)
    }

    @Test func stressShortensTheTimersOfOpenSessions() async throws {
        let limiter = ConnectionLimiter(maxTotal: 10, maxPerAddress: 10, stressPercent: 50)
        let h = try await HandlerHarness(connections: limiter) {
            $0.commandTimeoutSeconds = 300
            $0.stressTimeoutSeconds = 10
        }
        for index in 0..<5 { _ = limiter.acquire("192.0.2.\(index)") }
        #expect(limiter.isStressed)
        let channel = h.channel
        try await channel.testingEventLoop.executeInContext {
            channel.pipeline.fireUserInboundEventTriggered(TimerChangeNotice())
        }
        await h.channel.testingEventLoop.advanceTime(by: .seconds(11))
        #expect(try await h.replies(1) == ["421 4.4.2 relay.test Timeout, closing connection"])
    }

    @Test(arguments: [
        ("a\u{0}b\r\n", SMTPLimits.LongLines.split, "554 5.6.0 NUL octets in message text refused (RFC 5322 section 4.1)"),
        (String(repeating: "x", count: 3000) + "\r\n", .refuse,
         "554 5.6.0 Message has a line longer than 998 octets (RFC 5322 section 2.1.1)"),
    ])
    func badTextIsRefusedAndTheSessionGoesOn(_ text: String, _ longLines: SMTPLimits.LongLines, _ reply: String) async throws {
        let h = try await HandlerHarness { $0.longLines = longLines }
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("Subject: x\r\n\r\n\(text).\r\nMAIL FROM:<a@example.org>\r\n")
        #expect(try await h.replies(2) == [reply, "250 2.1.0 Sender <a@example.org> ok"])
        #expect(try h.queued().isEmpty)
    }

    @Test func longLinesAreQueuedUnchangedByDefault() async throws {
        let h = try await HandlerHarness()
        let long = String(repeating: "y", count: 3000)
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("Subject: x\r\n\r\n\(long)\r\n.\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("250 2.0.0 Ok: queued as "))
        #expect(try h.body(try h.queued()[0].id).hasSuffix("\r\n\r\n\(long)\r\n"))
    }

    /// A header section of several of MessageBodyWriter's 4 KiB parts and
    /// a body past the spool's 128 KiB in memory, in reads of every size
    /// around those steps up to all at once: every octet lands once, in order.
    @Test(arguments: [5, 1000, 4095, 4096, 4097, 8193, 300_000])
    func headerAndBodyInReadsOfAnySizeAreSpooledWhole(readSize: Int) async throws {
        let h = try await HandlerHarness()
        let fields = (0..<90).map { "X-Field-\($0): \(String(repeating: "v", count: 70))\r\n" }.joined()
        let body = (0..<3000).map { "line \($0) \(String(repeating: "b", count: $0 % 90))\r\n" }.joined()
        let content = Array(("Subject: x\r\n" + fields + "\r\n" + body + ".\r\n").utf8)
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        for start in stride(from: 0, to: content.count, by: readSize) {
            try await h.send(String(decoding: content[start..<min(content.count, start + readSize)], as: UTF8.self))
        }
        #expect(try await h.replies(1)[0].hasPrefix("250 2.0.0 Ok: queued as "))
        let stored = try h.body(try h.queued()[0].id)
        // Between the client's fields and its body: only the Date and
        // Message-ID Postern adds, and the empty line.
        let head = try #require(stored.range(of: "\r\nSubject: x\r\n" + fields))
        let rest = stored[head.upperBound...]
        #expect(rest.hasSuffix("\r\n\r\n" + body))
        let added = String(decoding: rest.utf8.dropLast(body.utf8.count + 2), as: UTF8.self)
            .split(separator: "\r\n").map { $0.prefix { $0 != ":" } }
        #expect(added == ["Date", "Message-ID"])
    }

    /// A header section past max_header_size, in one read with its body,
    /// goes through unparsed, octet for octet.
    @Test func anOversizedHeaderSectionInOneReadPassesUnchanged() async throws {
        let h = try await HandlerHarness { $0.maxHeaderBytes = 1024 }
        let fields = (0..<100).map { "X-Field-\($0): \(String(repeating: "v", count: 70))\r\n" }.joined()
        let body = (0..<2000).map { "line \($0)\r\n" }.joined()
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("Subject: x\r\n" + fields + "\r\n" + body + ".\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("250 2.0.0 Ok: queued as "))
        let stored = try h.body(try h.queued()[0].id)
        #expect(stored.hasSuffix("\r\nSubject: x\r\n" + fields + "\r\n" + body))
    }

    @Test func nulInBdatIsRefused() async throws {
        let h = try await HandlerHarness()
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n")
        _ = try await h.replies(10)
        try await h.send("BDAT 18 LAST\r\nSubject: x\r\n\r\na\u{0}\r\n")
        #expect(try await h.replies(1) == ["554 5.6.0 NUL octets in message text refused (RFC 5322 section 4.1)"])
    }

    @Test func quotedRecipientKeepsItsQuotingInReceived() async throws {
        let h = try await HandlerHarness()
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<\"c end \\\" x\"@d.test>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("Subject: x\r\n\r\nb\r\n.\r\n")
        _ = try await h.replies(1)
        #expect(try h.body(try h.queued()[0].id).contains("\tfor <\"c end \\\" x\"@d.test>; "))
    }
}

@Suite("Connection limiter stress mode")
struct ConnectionStressTests {
    @Test func entersAtTheThresholdAndLeavesWithHysteresis() throws {
        let changes = NIOLockedValueBox<[Bool]>([])
        let limiter = ConnectionLimiter(maxTotal: 100, maxPerAddress: 100, stressPercent: 80) { stressed, _ in
            changes.withLockedValue { $0.append(stressed) }
        }
        var slots = (0..<79).compactMap { _ in try? limiter.acquire("a").get() }
        #expect(!limiter.isStressed)
        slots.append(try #require(try? limiter.acquire("a").get()))
        #expect(limiter.isStressed)
        slots.removeLast().release()
        #expect(limiter.isStressed) // 79: still within the hysteresis band
        for _ in 0..<8 { slots.removeLast().release() }
        #expect(!limiter.isStressed) // 71 < 72
        #expect(changes.withLockedValue { $0 } == [true, false])
    }

    @Test func trustedClientsPassThePerAddressLimitButNotTheTotal() {
        let limiter = ConnectionLimiter(maxTotal: 3, maxPerAddress: 1)
        let first = limiter.acquire("10.0.0.1")
        #expect(Self.refusal(limiter.acquire("10.0.0.1")) == .tooManyFromAddress)
        let trusted = (0..<2).map { _ in limiter.acquire("10.0.0.1", exemptFromPerAddressLimit: true) }
        #expect(trusted.allSatisfy { (try? $0.get()) != nil })
        #expect(Self.refusal(limiter.acquire("10.0.0.2", exemptFromPerAddressLimit: true)) == .tooManyConnections)
        // A slot is given back once, however often it is released.
        let slot = try? first.get()
        slot?.release()
        slot?.release()
        #expect(limiter.openConnections == 2)
    }

    static func refusal(_ result: Result<ConnectionSlot, ConnectionLimiter.Refusal>) -> ConnectionLimiter.Refusal? {
        if case .failure(let refusal) = result { return refusal }
        return nil
    }

    @Test func aThresholdOfOneConnectionEndsToo() throws {
        let limiter = ConnectionLimiter(maxTotal: 1, maxPerAddress: 1, stressPercent: 100)
        let slot = try #require(try? limiter.acquire("a").get())
        #expect(limiter.isStressed)
        slot.release()
        #expect(!limiter.isStressed)
    }

    @Test func zeroPercentNeverStresses() {
        let limiter = ConnectionLimiter(maxTotal: 2, maxPerAddress: 2, stressPercent: 0)
        _ = limiter.acquire("a")
        _ = limiter.acquire("a")
        #expect(!limiter.isStressed)
    }
}

@Suite("Policy counters across a reload")
struct ReloadedPolicyTests {
    static func policy(maxFailures: Int = 5, messagesPerIP: Int = 10) -> PolicyConfig {
        var config = PolicyConfig()
        config.auth.enabled = true
        config.auth.passwordFile = "/nonexistent/passwd"
        config.auth.maxFailures = maxFailures
        config.rate.messagesPerIP = messagesPerIP
        return config
    }

    @Test func countersCarryOverWhenTheirSettingsStay() throws {
        let before = ListenerPolicy.make(policy: Self.policy(), hostname: "relay.test", spf: nil)
        let after = ListenerPolicy.make(policy: Self.policy(), hostname: "relay.test", spf: nil, previous: before)
        #expect(after.authThrottle === before.authThrottle && after.authThrottle != nil)
        #expect(after.rateLimiter === before.rateLimiter && after.rateLimiter != nil)
        let changed = ListenerPolicy.make(policy: Self.policy(maxFailures: 3, messagesPerIP: 20), hostname: "relay.test",
                                          spf: nil, previous: before)
        #expect(changed.authThrottle !== before.authThrottle && changed.rateLimiter !== before.rateLimiter)
    }
}
