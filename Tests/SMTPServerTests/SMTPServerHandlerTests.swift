import Foundation
import Logging
import MailQueue
import NIOCore
import NIOEmbedded
import Policy
import Testing
@testable import SMTPCore
@testable import SMTPServer

/// The handler on an in-memory channel (thread-safe testing event loop,
/// since the queue completes commits from its own thread).
final class HandlerHarness {
    let directory: String
    let queue: MailQueue
    let channel: NIOAsyncTestingChannel

    /// Through a load balancer: the connection comes from `peer` and
    /// starts with `header`; the caller reads the greeting (or the 421).
    struct Proxied {
        var peer = "127.0.0.1"
        var header: String
        var trusted = ["127.0.0.1"]
    }

    init(policy: ListenerPolicy? = nil, clientAddress: String = "127.0.0.1",
         connections: ConnectionLimiter = ConnectionLimiter(maxTotal: 10, maxPerAddress: 10),
         proxied: Proxied? = nil, configure: (inout SMTPLimits) -> Void = { _ in },
         onCommit: (@Sendable (Envelope, HeldBody?) -> Void)? = nil) async throws {
        directory = NSTemporaryDirectory() + "postern-handler-" + UUID().uuidString
        queue = try MailQueue(directory: directory)
        var limits = SMTPLimits()
        configure(&limits)
        var server = ServerContext(hostname: "relay.test", limits: limits, tls: nil, queue: queue,
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                   connections: connections, policy: policy)
        if let onCommit { server.onCommit = onCommit }
        let context = server
        let channel = NIOAsyncTestingChannel()
        self.channel = channel
        if let proxied {
            let settings = ProxyProtocolSettings(trustedProxies: proxied.trusted.compactMap(IPNetwork.init))
            try await channel.testingEventLoop.executeInContext {
                try channel.pipeline.syncOperations.addHandler(
                    SMTPListener.proxyHandler(settings, context: context, metrics: ListenerMetrics(listener: "test")))
            }
            try await channel.connect(to: SocketAddress(ipAddress: proxied.peer, port: 40000))
            try await send(proxied.header)
            return
        }
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(SMTPServerHandler(server: context, clientAddress: clientAddress))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2525))
        #expect(try await replies(1) == ["220 relay.test ESMTP Postern"])
    }

    deinit {
        queue.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func send(_ text: String) async throws {
        try await channel.writeInbound(ByteBuffer(string: text))
    }

    /// The next `count` reply lines (multi-line replies count each line).
    func replies(_ count: Int) async throws -> [String] {
        var lines: [String] = []
        var pending = ""
        while lines.count < count {
            let buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            pending += String(buffer: buffer)
            while let range = pending.range(of: "\r\n") {
                lines.append(String(pending[..<range.lowerBound]))
                pending = String(pending[range.upperBound...])
            }
        }
        return lines
    }

    func queued() throws -> [Envelope] {
        try QueueReader(directory: directory).list().compactMap {
            if case .envelope(let envelope) = $0 { return envelope }
            return nil
        }
    }

    /// The message as it would be sent: added fields, then the spooled file.
    func body(_ id: QueueID) throws -> String {
        let reader = QueueReader(directory: directory)
        return String(decoding: try reader.message(reader.envelope(id: id)), as: UTF8.self)
    }

    /// The spooled file as written.
    func spooled(_ id: QueueID) throws -> String {
        String(decoding: try QueueReader(directory: directory).body(id: id), as: UTF8.self)
    }
}

/// `replies(_:)` waits for output; a time limit turns a missing reply into a failure, not a hung run.
@Suite("SMTP handler on a testing channel", .timeLimit(.minutes(1)))
struct SMTPServerHandlerTests {
    @Test func pipelinedTransactionIsQueuedWithTraceHeaders() async throws {
        let h = try await HandlerHarness()
        try await h.send("EHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        let ehlo = try await h.replies(8)
        #expect(ehlo.first == "250-relay.test" && ehlo.last == "250 CHUNKING")
        #expect(try await h.replies(3) == ["250 2.1.0 Sender <a@example.org> ok", "250 2.1.5 Recipient <b@example.net> ok",
                                           "354 End data with <CR><LF>.<CR><LF>"])
        try await h.send("Subject: hi\r\n\r\n..dot-stuffed\r\nbody\r\n.\r\n")
        let done = try await h.replies(1)[0]
        #expect(done.hasPrefix("250 2.0.0 Ok: queued as "))
        let envelopes = try h.queued()
        #expect(envelopes.count == 1)
        let body = try h.body(envelopes[0].id)
        #expect(done.hasSuffix(envelopes[0].id.description))
        let received = "Received: from client.test (localhost [127.0.0.1])\r\n\tby relay.test with ESMTP id \(envelopes[0].id)\r\n\tfor <b@example.net>; "
        #expect(body.hasPrefix(received))
        #expect(body.contains("\r\nSubject: hi\r\nDate: "))
        #expect(body.contains("\r\nMessage-ID: <\(envelopes[0].id)."))
        #expect(body.hasSuffix("@relay.test>\r\n\r\n.dot-stuffed\r\nbody\r\n"))
        #expect(envelopes[0].sender == "a@example.org")
        #expect(envelopes[0].size == body.utf8.count)
    }

    @Test func existingDateAndMessageIDAreKept() async throws {
        let h = try await HandlerHarness()
        try await h.send("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n")
        _ = try await h.replies(5)
        try await h.send("Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-Id: <x@y>\r\nSubject: s\r\n\r\nb\r\n.\r\n")
        _ = try await h.replies(1)
        let body = try h.body(try h.queued()[0].id)
        #expect(body.components(separatedBy: "Date:").count == 2)
        #expect(!body.contains("Message-ID:"))
        #expect(body.contains("with SMTP id")) // HELO, not EHLO
        #expect(!body.contains("\tfor <")) // two recipients: no "for" clause
    }

    @Test func messageWithoutHeaderSectionGetsOne() async throws {
        let h = try await HandlerHarness()
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("just a body line\r\n.\r\n")
        _ = try await h.replies(1)
        let body = try h.body(try h.queued()[0].id)
        #expect(body.hasSuffix("@relay.test>\r\n\r\njust a body line\r\n"))
    }

    @Test func bdatChunksAreJoined() async throws {
        let h = try await HandlerHarness()
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n")
        _ = try await h.replies(10)
        try await h.send("BDAT 15\r\nSubject: x\r\n\r\nhBDAT 6 LAST\r\nello\r\n")
        let replies = try await h.replies(2)
        #expect(replies[0] == "250 2.0.0 15 octets received")
        #expect(replies[1].hasPrefix("250 2.0.0 Ok: queued as "))
        #expect(try h.body(try h.queued()[0].id).hasSuffix("\r\n\r\nhello\r\n"))
    }

    /// RSET after a BDAT chunk without LAST throws that chunk away: the next
    /// transaction's message starts afresh.
    @Test func resetAfterBdatChunkDropsIt() async throws {
        let h = try await HandlerHarness()
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n")
        _ = try await h.replies(10)
        try await h.send("BDAT 12\r\nSubject: A\r\nRSET\r\n")
        #expect(try await h.replies(2) == ["250 2.0.0 12 octets received", "250 2.0.0 Ok"])
        try await h.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 20 LAST\r\nSubject: B\r\n\r\nbody\r\n")
        let replies = try await h.replies(3)
        #expect(replies[2].hasPrefix("250 2.0.0 Ok: queued as "))
        let body = try h.body(try h.queued()[0].id)
        #expect(!body.contains("Subject: A") && body.contains("Subject: B\r\n") && body.hasSuffix("\r\n\r\nbody\r\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.directory + "/incoming").isEmpty)
    }

    @Test func oversizedMessageIsReadToTheEndThenRefused() async throws {
        let h = try await HandlerHarness { $0.maxMessageSize = 2000 }
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        for _ in 0..<10 { try await h.send(String(repeating: "x", count: 500) + "\r\n") }
        try await h.send(".\r\nMAIL FROM:<a@example.org>\r\n")
        #expect(try await h.replies(2) == ["552 5.3.4 Message size exceeds fixed maximum message size (2000 octets)",
                                           "250 2.1.0 Sender <a@example.org> ok"])
        #expect(try h.queued().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.directory + "/incoming").isEmpty)
    }

    @Test func bareLineFeedSmugglingIsRefusedAndClosed() async throws {
        let h = try await HandlerHarness()
        try await h.send("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(11)
        try await h.send("Subject: x\r\n\r\nx\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nsmuggled\r\n.\r\n")
        #expect(try await h.replies(1) == ["554 5.6.0 Bare CR or LF in message text refused (RFC 5321 section 2.3.8)"])
        try await h.channel.closeFuture.get()
        #expect(try h.queued().isEmpty)
    }

    @Test func overlongLineThenNormalCommand() async throws {
        let h = try await HandlerHarness()
        try await h.send(String(repeating: "N", count: 3000) + "\r\nNOOP\r\n")
        #expect(try await h.replies(2) == ["500 5.5.6 Line too long", "250 2.0.0 Ok"])
    }

    @Test func httpRequestClosesTheConnection() async throws {
        let h = try await HandlerHarness()
        try await h.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try await h.channel.closeFuture.get()
    }

    @Test func quitClosesAfterTheReply() async throws {
        let h = try await HandlerHarness()
        try await h.send("QUIT\r\n")
        #expect(try await h.replies(1) == ["221 2.0.0 relay.test closing connection"])
        try await h.channel.closeFuture.get()
    }
}
