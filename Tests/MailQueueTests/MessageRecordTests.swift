import Foundation
import Testing
@testable import MailQueue

@Suite("Message record (one file per message)")
struct MessageRecordTests {
    static let body = Array("Subject: hi\r\n\r\nhello\r\n".utf8)

    static func envelope(size: Int = body.count) -> Envelope {
        var envelope = Envelope(id: QueueID(value: 0x77), created: Date(timeIntervalSince1970: 1_800_000_000),
                                sender: "a@example.org", recipients: [.init(address: "b@example.net")], size: size,
                                clientAddress: "127.0.0.1", clientHelo: "test", receivedProtocol: "ESMTP")
        envelope.addedHeaders = ["X-Spam-Flag: NO\r\n"]
        return envelope
    }

    static func record(_ envelope: Envelope = envelope()) -> [UInt8] {
        body + MessageRecord.suffix(for: envelope)
    }

    @Test func envelopeIsFoundFromTheEnd() throws {
        let bytes = Self.record()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("Subject: hi\r\n\r\nhello\r\npostern-envelope 4\n"))
        #expect(text.hasSuffix("end\npostern-record 0000000000000016\n"))
        #expect(try MessageRecord.envelope(tail: bytes, fileSize: bytes.count) == Self.envelope())
        // Only the tail in hand, as after a pread of the last octets.
        let tail = Array(bytes[Self.body.count...])
        #expect(try MessageRecord.envelope(tail: tail, fileSize: bytes.count) == Self.envelope())
    }

    /// A record cut anywhere (a torn write that never reached the rename)
    /// is never read as a message.
    @Test func everyTruncationIsRefused() {
        let bytes = Self.record()
        for cut in 0..<bytes.count {
            #expect(throws: EnvelopeCodec.DecodeError.self) {
                try MessageRecord.envelope(tail: Array(bytes[..<cut]), fileSize: cut)
            }
        }
    }

    @Test func trailerMustAgreeWithTheEnvelope() {
        // The envelope says 5 octets of body, the trailer 22.
        let lying = Self.body + EnvelopeCodec.encode(Self.envelope(size: 5)) + MessageRecord.trailer(envelopeOffset: Self.body.count)
        #expect(throws: EnvelopeCodec.DecodeError.inconsistent("record trailer and envelope size disagree")) {
            try MessageRecord.envelope(tail: lying, fileSize: lying.count)
        }
        var outside = Self.record()
        outside.replaceSubrange((outside.count - 17)..<(outside.count - 1), with: Array("00000000000fffff".utf8))
        #expect(throws: EnvelopeCodec.DecodeError.inconsistent("record trailer points outside the file")) {
            try MessageRecord.envelope(tail: outside, fileSize: outside.count)
        }
        var badMagic = Self.record()
        badMagic[badMagic.count - 30] = UInt8(ascii: "X")
        #expect(throws: EnvelopeCodec.DecodeError.noTrailer) { try MessageRecord.envelope(tail: badMagic, fileSize: badMagic.count) }
    }

    /// An envelope longer than the first read of the tail takes a second.
    @Test func largeEnvelopeIsReadWhole() throws {
        let dir = TemporaryDirectory()
        var envelope = Self.envelope()
        envelope.addedHeaders = (0..<300).map { "X-Line-\($0): \(String(repeating: "v", count: 20))\r\n" }
        let path = dir.path + "/big.msg"
        let bytes = Self.record(envelope)
        #expect(bytes.count - Self.body.count > MessageRecord.tailRead)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try MessageRecord.readEnvelope(path) == envelope)
        try Data(Self.body).write(to: URL(fileURLWithPath: path))
        #expect(throws: EnvelopeCodec.DecodeError.noTrailer) { try MessageRecord.readEnvelope(path) }
    }

    @Test func bodyRangeLimit() {
        #expect(QueuedBody(path: "/x", offset: 10, end: 25).limit == 15)
        #expect(QueuedBody(path: "/x", offset: 10).limit == .max)
        #expect(QueuedBody(path: "/x", offset: 30, end: 25).limit == 0)
    }
}
