import Foundation
import Logging
import MailQueue
import NIOCore
import NIOEmbedded
import Policy
import ProxyProtocol
import Testing
@testable import SMTPServer

/// What the handlers behind the PROXY handler saw.
final class SessionRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var activations = 0
    var received = ""

    func channelActive(context: ChannelHandlerContext) {
        activations += 1
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
    }
}

/// The PROXY handler alone on an EmbeddedChannel, connected from `peer`.
final class ProxyHarness {
    let channel = EmbeddedChannel()
    let recorder = SessionRecorder()
    /// The client addresses `startSession` was called with.
    private(set) var started: [String] = []

    init(peer: String = "127.0.0.1", trusted: [String] = ["127.0.0.1", "10.0.1.0/24"]) throws {
        let settings = ProxyProtocolSettings(trustedProxies: trusted.compactMap(IPNetwork.init), headerTimeout: .seconds(10))
        let handler = ProxyProtocolHandler(settings: settings, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) {
            [unowned self] channel, client, _ in
            started.append(client)
            try channel.pipeline.syncOperations.addHandler(recorder)
        }
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: peer, port: 40000)).wait()
    }

    func send(_ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    var isOpen: Bool { channel.isActive }
    var proxyHandlerRemoved: Bool { (try? channel.pipeline.syncOperations.handler(type: ProxyProtocolHandler.self)) == nil }
}

private let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
/// A v2 PROXY header for TCP over IPv4 from 192.0.2.7:56068 to 10.0.0.1:25.
private let v2TCP4 = v2Signature + [0x21, 0x11, 0, 12, 192, 0, 2, 7, 10, 0, 0, 1, 0xDB, 0x04, 0, 25]

@Suite("PROXY protocol handler")
struct ProxyProtocolHandlerTests {
    @Test func v1HeaderStartsTheSessionWithTheClientItNames() throws {
        let h = try ProxyHarness()
        #expect(h.recorder.activations == 0, "nothing happens before the header")
        try h.send(Array("PROXY TCP4 192.0.2.7 10.0.0.1 56068 25\r\nEHLO early\r\n".utf8))
        #expect(h.started == ["192.0.2.7"])
        #expect(h.recorder.activations == 1)
        #expect(h.recorder.received == "EHLO early\r\n", "octets after the header reach the session")
        #expect(h.proxyHandlerRemoved)
        try h.send(Array("QUIT\r\n".utf8))
        #expect(h.recorder.received == "EHLO early\r\nQUIT\r\n")
    }

    @Test func v2HeaderSplitOverReads() throws {
        let h = try ProxyHarness(peer: "10.0.1.9")
        try h.send(Array(v2TCP4.prefix(7)))
        try h.send(Array(v2TCP4[7..<20]))
        #expect(h.started.isEmpty && h.isOpen)
        try h.send(Array(v2TCP4[20...]))
        #expect(h.started == ["192.0.2.7"])
        #expect(h.recorder.activations == 1 && h.recorder.received.isEmpty)
    }

    @Test func ipv4MappedSourceIsNamedAsIPv4() throws {
        let h = try ProxyHarness()
        try h.send(Array("PROXY TCP6 ::ffff:c000:207 ::1 1 25\r\n".utf8))
        #expect(h.started == ["192.0.2.7"])
    }

    /// LOCAL (v2 health checks) and UNKNOWN (v1): the connection's own peer.
    @Test(arguments: [v2Signature + [0x20, 0x00, 0, 0], Array("PROXY UNKNOWN\r\n".utf8)])
    func headerWithoutClientKeepsThePeer(_ header: [UInt8]) throws {
        let h = try ProxyHarness()
        try h.send(header)
        #expect(h.started == ["127.0.0.1"])
    }

    @Test func peerOutsideProxyFromIsClosedUnanswered() throws {
        let h = try ProxyHarness(peer: "127.0.0.4")
        #expect(!h.isOpen)
        #expect(h.started.isEmpty && h.recorder.activations == 0)
        #expect(try h.channel.readOutbound(as: ByteBuffer.self) == nil)
    }

    @Test(arguments: ["EHLO client.example\r\n", "PROXY TCP4 192.0.2.7 10.0.0.1 056068 25\r\n", "PROXY TCP4 1.2.3.4\n"])
    func invalidHeaderIsClosedUnanswered(_ text: String) throws {
        let h = try ProxyHarness()
        try h.send(Array(text.utf8))
        #expect(!h.isOpen)
        #expect(h.started.isEmpty && h.recorder.activations == 0)
        #expect(try h.channel.readOutbound(as: ByteBuffer.self) == nil)
    }

    @Test func noHeaderInTimeIsClosed() throws {
        let h = try ProxyHarness()
        try h.send(Array("PROXY TCP4 192.0.2.7".utf8))
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(h.isOpen)
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!h.isOpen && h.started.isEmpty)
    }

    @Test func headerInTimeCancelsTheTimer() throws {
        let h = try ProxyHarness()
        try h.send(Array("PROXY TCP4 192.0.2.7 10.0.0.1 1 25\r\n".utf8))
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(h.isOpen && h.started == ["192.0.2.7"])
    }

    @Test func shutdownClosesAConnectionWaitingForItsHeader() throws {
        let h = try ProxyHarness()
        h.channel.pipeline.fireUserInboundEventTriggered(ShutdownNotice(force: false))
        #expect(!h.isOpen && h.started.isEmpty)
    }
}

/// The PROXY handler in front of a real session, as a proxy_protocol
/// listener builds it: policy, Received line, envelope and connection
/// limits all see the client the header names.
@Suite("PROXY protocol in front of a session", .timeLimit(.minutes(1)))
struct ProxiedSessionTests {
    @Test func greetingWaitsForTheHeaderAndTheTraceNamesTheClient() async throws {
        let h = try await HandlerHarness(proxied: .init(header: "PROXY TCP4 127.0.0.2 127.0.0.1 40001 25\r\n"))
        #expect(try await h.replies(1) == ["220 relay.test ESMTP Postern"])
        try await h.send("HELO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        _ = try await h.replies(4)
        try await h.send("Subject: s\r\n\r\nb\r\n.\r\n")
        #expect(try await h.replies(1)[0].hasPrefix("250 2.0.0 Ok: queued as "))
        let envelope = try #require(try h.queued().first)
        #expect(envelope.clientAddress == "127.0.0.2")
        #expect(try h.body(envelope.id).hasPrefix("Received: from client.test (localhost [127.0.0.2])\r\n"))
    }

    /// The built-in policy relays for loopback only: a header naming an
    /// outside client takes that away, though the proxy itself is loopback.
    @Test func relayPolicySeesTheClient() async throws {
        let h = try await HandlerHarness(proxied: .init(header: "PROXY TCP4 192.0.2.7 127.0.0.1 40001 25\r\n"))
        _ = try await h.replies(1)
        try await h.send("HELO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n")
        let replies = try await h.replies(3)
        #expect(replies[2].hasPrefix("554 5.7.1"), "\(replies)")
    }

    @Test func perAddressLimitCountsTheClient() async throws {
        let limiter = ConnectionLimiter(maxTotal: 10, maxPerAddress: 1)
        func connect(_ client: String) async throws -> (HandlerHarness, String) {
            let h = try await HandlerHarness(connections: limiter,
                                             proxied: .init(header: "PROXY TCP4 \(client) 127.0.0.1 40001 25\r\n"))
            return (h, try await h.replies(1)[0])
        }
        let (first, firstGreeting) = try await connect("192.0.2.7")
        let (other, otherGreeting) = try await connect("192.0.2.8")
        let (_, again) = try await connect("192.0.2.7")
        #expect(firstGreeting.hasPrefix("220 ") && otherGreeting.hasPrefix("220 "))
        #expect(again == "421 4.7.0 relay.test Too many connections from your address, try again later")
        #expect(limiter.openConnections == 2)
        _ = (first, other)
    }
}
