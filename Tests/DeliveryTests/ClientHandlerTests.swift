import Logging
import NIOCore
import NIOEmbedded
import SMTPCore
import Testing
@testable import Delivery

/// The handler on an `EmbeddedChannel`: the test plays the server.
final class HandlerHarness {
    let channel = EmbeddedChannel()
    let ready: EventLoopPromise<SessionInfo>
    let handler: SMTPClientHandler
    private(set) var session: Result<SessionInfo, Error>?

    init(options: ClientOptions) throws {
        ready = channel.eventLoop.makePromise()
        handler = SMTPClientHandler(options: options, tlsContext: nil, tlsServerName: nil, bodyReader: BodyReader(),
                                        readyPromise: ready, logger: Logger(label: "test"))
        try channel.pipeline.syncOperations.addHandler(handler)
        ready.futureResult.assumeIsolated().whenComplete { self.session = $0 }
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
    }

    func server(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
        channel.embeddedEventLoop.run()
    }

    /// Everything the client wrote since the last call.
    func sent() throws -> String {
        channel.embeddedEventLoop.run()
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    func send(_ message: OutboundMessage) -> Box<MessageOutcome> {
        let promise = channel.eventLoop.makePromise(of: MessageOutcome.self)
        let box = Box<MessageOutcome>()
        promise.futureResult.assumeIsolated().whenSuccess { box.value = $0 }
        // As SMTPConnection does: a request that never reaches the handler is settled here.
        let count = message.recipients.count
        channel.writeAndFlush(ClientRequest.send(message, promise)).whenFailure { _ in
            promise.succeed(.deferredAll(count, .local(EnhancedStatusCode(4, 4, 2), "connection is closed", stage: .mail)))
        }
        channel.embeddedEventLoop.run()
        return box
    }

    func quit() -> Box<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let box = Box<Void>()
        promise.futureResult.assumeIsolated().whenSuccess { box.value = () }
        channel.writeAndFlush(ClientRequest.quit(promise), promise: nil)
        channel.embeddedEventLoop.run()
        return box
    }

    /// Greeting and EHLO.
    func setUp(ehlo: String = "250-mx.test\r\n250 PIPELINING\r\n") throws {
        try server("220 mx.test ESMTP\r\n")
        _ = try sent()
        try server(ehlo)
    }
}

/// Counts the flushes that pass it on their way to the socket.
final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private(set) var count = 0

    func flush(context: ChannelHandlerContext) {
        count += 1
        context.flush()
    }
}

final class Box<T> {
    var value: T?
}

@Suite("Client handler on EmbeddedChannel")
struct ClientHandlerTests {
    static let options = ClientOptions(heloName: "client.test", tlsPolicy: .none, bodyChunkSize: 3)

    @Test func pipelinedMessageWithStuffedChunkedBody() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.server("220 mx.test ESMTP\r\n")
        #expect(try harness.sent() == "EHLO client.test\r\n")
        try harness.server("250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n")
        #expect(try harness.session?.get().capabilities.pipelining == true)

        let body = ByteBuffer(string: ".a\r\nb\r\n.\r\n..c\r\nlast line without end")
        let outcome = harness.send(OutboundMessage(id: "Q", sender: "s@y.test", recipients: ["a@x.test", "b@x.test"],
                                                   size: body.readableBytes, body: .bytes(body)))
        #expect(try harness.sent() == "MAIL FROM:<s@y.test> SIZE=\(body.readableBytes)\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n")
        try harness.server("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 unknown\r\n354 go\r\n")
        #expect(try harness.sent() == "..a\r\nb\r\n..\r\n...c\r\nlast line without end\r\n.\r\n")
        #expect(outcome.value == nil)
        try harness.server("250 2.0.0 queued\r\n")
        #expect(outcome.value?.recipients.map(\.isDelivered) == [true, false])
        #expect(outcome.value?.recipients[1].isFailed == true)

        let quit = harness.quit()
        #expect(try harness.sent() == "QUIT\r\n")
        try harness.server("221 2.0.0 bye\r\n")
        #expect(quit.value != nil)
        #expect(!harness.channel.isActive)
    }

    /// A body in memory that fits one chunk goes out with the added fields
    /// and the end of data in one flush, stuffed the same way.
    @Test func smallBodyWithFieldsInOneFlush() throws {
        let harness = try HandlerHarness(options: ClientOptions(heloName: "client.test", tlsPolicy: .none))
        let flushes = FlushCounter()
        try harness.channel.pipeline.syncOperations.addHandler(flushes, position: .first)
        try harness.setUp()
        let body = ByteBuffer(string: "Subject: s\r\n\r\n.dot\r\nend")
        let outcome = harness.send(OutboundMessage(id: "Q", sender: "s@y.test", recipients: ["a@x.test"], size: 40,
                                                   body: .bytes(body), prefix: ByteBuffer(string: "X-Scan: clean\r\n")))
        _ = try harness.sent()
        let before = flushes.count
        try harness.server("250 ok\r\n250 ok\r\n354 go\r\n")
        #expect(flushes.count == before + 1)
        #expect(try harness.sent() == "X-Scan: clean\r\nSubject: s\r\n\r\n..dot\r\nend\r\n.\r\n")
        try harness.server("250 2.0.0 queued\r\n")
        #expect(outcome.value?.recipients.first?.isDelivered == true)
    }

    /// A body the server found plain (`bodyIsPlain`) is sent as it is, in
    /// one chunk or many; the fields added in front are still stuffed. The
    /// body here is marked plain though it is not, to show that no pass over
    /// it is made; a prefix that leaves a line open turns that off.
    @Test(arguments: [0, 3])
    func plainBodyGoesOutAsItIs(chunkSize: Int) throws {
        let options = chunkSize == 0 ? ClientOptions(heloName: "client.test", tlsPolicy: .none)
            : ClientOptions(heloName: "client.test", tlsPolicy: .none, bodyChunkSize: chunkSize)
        for (prefix, expected) in [(".X: y\r\n", "..X: y\r\n.a\r\n.b\r\n.\r\n"), ("X: open", "X: open.a\r\n..b\r\n.\r\n")] {
            let harness = try HandlerHarness(options: options)
            try harness.setUp()
            let body = ByteBuffer(string: ".a\r\n.b\r\n")
            var message = OutboundMessage(id: "Q", sender: "s@y.test", recipients: ["a@x.test"], size: 40,
                                          body: .bytes(body), prefix: ByteBuffer(string: prefix))
            message.bodyIsPlain = true
            _ = harness.send(message)
            _ = try harness.sent()
            try harness.server("250 ok\r\n250 ok\r\n354 go\r\n")
            #expect(try harness.sent() == expected, "prefix \(prefix)")
        }
    }

    @Test func reusedConnectionGoesStraightToTheNextMessage() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.setUp()
        let first = harness.send(message(["a@x.test"]))
        let second = harness.send(message(["b@x.test"]))
        #expect(try harness.sent() == "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n")
        try harness.server("250 ok\r\n250 ok\r\n354 go\r\n")
        _ = try harness.sent()
        try harness.server("250 ok 1\r\n")
        #expect(first.value?.recipients.first?.isDelivered == true)
        // The server reset itself at the end of the data: no RSET.
        #expect(try harness.sent() == "MAIL FROM:<s@y.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n")
        try harness.server("250 ok\r\n250 ok\r\n354 go\r\n")
        _ = try harness.sent()
        try harness.server("250 ok 2\r\n")
        #expect(second.value?.recipients.first == .delivered(reply("250 ok 2")))
    }

    @Test func timeoutWaitingForEhlo() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.server("220 mx.test\r\n")
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(299))
        #expect(harness.session == nil)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(throws: SMTPConnectionError.self) { try harness.session?.get() }
        #expect(!harness.channel.isActive)
    }

    @Test func timeoutAfterTheDot() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.setUp()
        let outcome = harness.send(message(["a@x.test"]))
        try harness.server("250 ok\r\n250 ok\r\n354 go\r\n")
        harness.channel.embeddedEventLoop.advanceTime(by: .minutes(9))
        #expect(outcome.value == nil)
        harness.channel.embeddedEventLoop.advanceTime(by: .minutes(2))
        #expect(outcome.value?.recipients.first?.isDeferred == true)
        #expect("\(outcome.value!.recipients[0])".contains("timed out after 600 s"))
        #expect(!harness.channel.isActive)
    }

    @Test func plaintextAfterStartTLSReplyIsRefused() throws {
        let harness = try HandlerHarness(options: ClientOptions(heloName: "client.test", tlsPolicy: .required))
        try harness.setUp(ehlo: "250-mx.test\r\n250 STARTTLS\r\n")
        #expect(try harness.sent() == "STARTTLS\r\n")
        try harness.server("220 go ahead\r\n250-injected\r\n")
        let error = try #require(harness.session.flatMap { result -> SMTPConnectionError? in
            if case .failure(let error) = result { return error as? SMTPConnectionError }
            return nil
        })
        #expect(error.reason.statusCode.description == "4.7.5")
        #expect(!harness.channel.isActive)
    }

    @Test func garbageReplyDefersAndCloses() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.setUp()
        let outcome = harness.send(message(["a@x.test"]))
        try harness.server("HTTP/1.1 400 Bad Request\r\n")
        #expect(outcome.value?.recipients.first?.statusCode == "4.5.0")
        #expect(!harness.channel.isActive)
        let late = harness.send(message(["b@x.test"]))
        #expect(late.value?.recipients.first?.isDeferred == true)
    }

    @Test func lostConnectionDefers() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.setUp()
        let outcome = harness.send(message(["a@x.test"]))
        try harness.server("250 ok\r\n")
        harness.channel.pipeline.fireChannelInactive()
        harness.channel.embeddedEventLoop.run()
        #expect(outcome.value?.recipients.first?.isDeferred == true)
    }

    @Test func greetingRefusalSendsQuit() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.server("554 5.7.1 no service\r\n")
        #expect(try harness.sent() == "QUIT\r\n")
        #expect(throws: SMTPConnectionError.self) { try harness.session?.get() }
    }
}
