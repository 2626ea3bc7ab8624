import NIOCore
import Testing
@testable import Delivery

/// A next hop that floods us: memory stays bounded and the connection ends
/// with a reason that says why (deferred, never delivered).
@Suite("Client handler against a hostile next hop")
struct HostileServerTests {
    static let options = ClientOptions(heloName: "client.test", tlsPolicy: .none)

    /// Feeds `chunk` up to `times` times, while the connection is open, and
    /// returns how many chunks were taken and the most octets ever buffered.
    static func flood(_ harness: HandlerHarness, _ chunk: String, times: Int) throws -> (reads: Int, maxBuffered: Int) {
        var reads = 0
        var maxBuffered = 0
        while reads < times, harness.channel.isActive {
            try harness.server(chunk)
            reads += 1
            maxBuffered = max(maxBuffered, harness.handler.bufferedReplyBytes)
        }
        return (reads, maxBuffered)
    }

    static func failure(_ harness: HandlerHarness) -> SMTPConnectionError? {
        if case .failure(let error) = harness.session { return error as? SMTPConnectionError }
        return nil
    }

    @Test func endlessReplyLine() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.setUp()
        let outcome = harness.send(message(["a@x.test"]))
        _ = try harness.sent()
        let (reads, buffered) = try Self.flood(harness, "250 " + String(repeating: "x", count: 1000), times: 10_000)
        #expect(reads <= 5)
        #expect(buffered <= 4096)
        #expect(!harness.channel.isActive)
        let recipient = try #require(outcome.value?.recipients.first)
        #expect(recipient.isDeferred)
        #expect(recipient.statusCode == "4.5.0")
        #expect("\(recipient)".contains("reply too long"))
    }

    @Test func endlessContinuationLines() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.server("220 mx.test ESMTP\r\n")
        let (reads, buffered) = try Self.flood(harness, String(repeating: "250-SIZE 1000\r\n", count: 10), times: 100_000)
        #expect(reads == 11) // line 101 ends it
        #expect(buffered == 0)
        #expect(!harness.channel.isActive)
        let error = try #require(Self.failure(harness))
        #expect(error.reason.statusCode.description == "4.5.0")
        #expect(error.reason.description.contains("reply too long: more than 100 lines"))
    }

    @Test func longContinuationLinesHitTheOctetLimit() throws {
        let harness = try HandlerHarness(options: Self.options)
        try harness.server("220 mx.test ESMTP\r\n")
        let line = "250-" + String(repeating: "y", count: 4000) + "\r\n"
        let (reads, _) = try Self.flood(harness, line, times: 100)
        #expect(reads == 17) // 17 × 4,000 octets > 64 KiB, long before 100 lines
        let error = try #require(Self.failure(harness))
        #expect(error.reason.description.contains("reply too long: more than 65536 octets"))
    }

    @Test(arguments: [false, true])
    func megabytesOfGarbage(withLineEnds: Bool) throws {
        let harness = try HandlerHarness(options: Self.options)
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<65536).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // Without any line end, or with them: both end at once.
        let garbage = withLineEnds ? bytes.map { $0 == 0x35 ? 0x0A : $0 } : bytes.map { $0 == 0x0A ? 0x20 : $0 }
        var reads = 0
        while reads < 32, harness.channel.isActive {
            try harness.channel.writeInbound(ByteBuffer(bytes: garbage))
            harness.channel.embeddedEventLoop.run()
            reads += 1
            #expect(harness.handler.bufferedReplyBytes == 0)
        }
        #expect(reads == 1)
        #expect(!harness.channel.isActive)
        let error = try #require(Self.failure(harness))
        #expect(error.reason.statusCode.description == "4.5.0")
    }
}
