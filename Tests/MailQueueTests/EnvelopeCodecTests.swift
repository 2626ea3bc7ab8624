import Foundation
import SMTPCore
import Testing
@testable import MailQueue

@Suite("Envelope codec")
struct EnvelopeCodecTests {
    static func sample(sender: String = "alice@example.org") -> Envelope {
        var envelope = Envelope(id: QueueID(value: 0x0006_1234_5678_9ABC), created: Date(timeIntervalSince1970: 1_764_277_000.25),
                 sender: sender,
                 recipients: [.init(address: "bob@example.net"),
                              .init(address: "\"odd name\"@example.net", status: .deferred, lastReply: "451 4.3.0 try later"),
                              .init(address: "用户@例子.广告", status: .failed, lastReply: "550 5.1.1 100% gone")],
                 size: 1234, state: .deferred, attempts: 3, nextAttempt: Date(timeIntervalSince1970: 1_764_280_000),
                 lastReply: "451 4.3.0 try later", clientAddress: "::1", clientHelo: "client example",
                 receivedProtocol: "ESMTPS", eightBitMIME: true, smtpUTF8: true)
        envelope.addedHeaders = ["X-Spam-Score: 1.5\r\n", "X-Note: folded\r\n\tsecond line 100%\r\n"]
        envelope.layout = .pair // the two-file format's versions; records: `recordIsVersion4`
        envelope.record(.init(time: Date(timeIntervalSince1970: 1_764_277_300), result: .deferred, nextHop: "mx.example.net",
                              recipients: [1], reply: "451 4.3.0 try later"))
        envelope.record(.init(time: Date(timeIntervalSince1970: 1_764_277_301), result: .failed, nextHop: nil,
                              recipients: [], reply: "no route"))
        return envelope
    }

    @Test("round trip", arguments: ["alice@example.org", "", "\"a b\"@x.example", "100%@x.example"])
    func roundTrip(sender: String) throws {
        let envelope = Self.sample(sender: sender)
        #expect(try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope)) == envelope)
    }

    /// A body offset makes the file version 3 (a version-2 reader refuses
    /// it instead of sending the header section twice); without one it stays 2.
    @Test func bodyOffsetRoundTripsAsVersion3() throws {
        var envelope = Self.sample()
        #expect(String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self).hasPrefix("postern-envelope 2\n"))
        envelope.bodyOffset = 200
        let text = String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)
        #expect(text.hasPrefix("postern-envelope 3\n") && text.contains("\nbody-offset 200\n"))
        #expect(try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope)) == envelope)
        #expect(envelope.messageSize == 1234 - 200 + envelope.addedHeaders.joined().utf8.count)
        envelope.bodyOffset = 5000
        #expect(throws: EnvelopeCodec.DecodeError.inconsistent("body-offset outside the body")) {
            try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope))
        }
    }

    /// A record's envelope (and its sidecar) is version 4, body offset or
    /// not, and reads back as a record; the older versions read as pairs.
    @Test func recordIsVersion4() throws {
        var envelope = Self.sample()
        envelope.layout = .record
        envelope.bodyOffset = 200
        let text = String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)
        #expect(text.hasPrefix("postern-envelope 4\n") && text.contains("\nbody-offset 200\n"))
        #expect(try EnvelopeCodec.decode(Array(text.utf8)) == envelope)
        var pair = envelope
        pair.layout = .pair
        #expect(try EnvelopeCodec.decode(EnvelopeCodec.encode(pair)).layout == .pair)
    }

    @Test func fileIsReadableText() {
        let text = String(decoding: EnvelopeCodec.encode(Self.sample()), as: UTF8.self)
        #expect(text.hasPrefix("postern-envelope 2\nid 0006123456789ABC\n"))
        #expect(text.contains("\nattempt 1764277300.000000 deferred mx.example.net 1 451%204.3.0%20try%20later\n"))
        #expect(text.contains("\nattempt 1764277301.000000 failed - - no%20route\n"))
        #expect(text.contains("\nheader X-Spam-Score:%201.5%0D%0A\n"))
        #expect(text.hasSuffix("\nend\n"))
        #expect(text.contains("rcpt deferred 451%204.3.0%20try%20later \"odd%20name\"@example.net\n"))
    }

    @Test func truncatedEnvelopeIsRefused() {
        let bytes = EnvelopeCodec.encode(Self.sample())
        for cut in [0, 5, 20, bytes.count / 2, bytes.count - 4] {
            #expect(throws: EnvelopeCodec.DecodeError.self) { try EnvelopeCodec.decode(Array(bytes[..<cut])) }
        }
    }

    static let broken: [(String, EnvelopeCodec.DecodeError)] = [
        ("postern-envelope 5\nend\n", .badHeader),
        ("postern-envelope 2\nattempt 1 lost - - x\nend\n", .badLine(2, "bad attempt")),
        ("postern-envelope 2\nattempt 1 failed - 0,x x\nend\n", .badLine(2, "bad attempt")),
        ("postern-envelope 1\nid 0006123456789ABC\n", .missingEnd),
        ("postern-envelope 1\nid 0006123456789ABC\nend\n", .missingField("created")),
        ("postern-envelope 1\nrcpt pending - a@b\nend\n", .missingField("id")),
        ("postern-envelope 1\nnovalue\nend\n", .badLine(2, "no value")),
        ("postern-envelope 1\nrcpt lost - a@b\nend\n", .badLine(2, "bad recipient")),
        ("postern-envelope 1\nsender a%zz\nend\n", .badLine(2, "bad encoding")),
    ]

    /// Found by the envelope fuzz target (fuzz/envelope): these decoded,
    /// then trapped when the envelope was written back.
    @Test("unwritable timestamps are refused", arguments: ["nan", "inf", "-inf", "1e300", "17642770006250000", "-5"])
    func unwritableTimestamp(created: String) {
        let text = "postern-envelope 1\nid 0006123456789ABC\ncreated \(created)\nsender a@b.example\nsize 1\n"
            + "state ready\nattempts 0\nclient ::1\nprotocol ESMTP\nrcpt pending - c@d.example\nend\n"
        #expect(throws: EnvelopeCodec.DecodeError.missingField("created")) { try EnvelopeCodec.decode(Array(text.utf8)) }
    }

    /// Found by the envelope fuzz target: "-" in a recipient line means no
    /// reply, so a reply of "-" came back as none.
    @Test func replyOfADashRoundTrips() throws {
        var envelope = Self.sample()
        envelope.recipients[0].lastReply = "-"
        #expect(try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope)) == envelope)
    }

    @Test("broken envelopes", arguments: broken)
    func brokenEnvelope(text: String, error: EnvelopeCodec.DecodeError) {
        #expect(throws: error) { try EnvelopeCodec.decode(Array(text.utf8)) }
    }

    /// A queue written before version 2 stays readable.
    @Test func versionOneIsRead() throws {
        let text = """
            postern-envelope 1
            id 0006123456789ABC
            created 1764277000.250000
            sender a@example.org
            size 12
            state deferred
            attempts 1
            client 127.0.0.1
            protocol ESMTP
            8bitmime 0
            smtputf8 0
            rcpt deferred 451%20later b@example.net
            end

            """
        let envelope = try EnvelopeCodec.decode(Array(text.utf8))
        #expect(envelope.history.isEmpty && envelope.addedHeaders.isEmpty)
        #expect(envelope.recipients == [.init(address: "b@example.net", status: .deferred, lastReply: "451 later")])
        #expect(envelope.dsnReturn == nil && envelope.envelopeID == nil && envelope.recipients[0].dsn == RecipientParameters())
        #expect(try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope)) == envelope)
    }

    static func withDSN() -> Envelope {
        var envelope = sample()
        envelope.dsnReturn = .headers
        envelope.envelopeID = "abc+def 100%"
        envelope.recipients[0].dsn = RecipientParameters(
            notify: [.success, .failure], originalRecipient: OriginalRecipient(addressType: "rfc822", address: "bob@x"))
        envelope.recipients[2].dsn = RecipientParameters(notify: .never)
        return envelope
    }

    /// RET, ENVID and each recipient's NOTIFY and ORCPT (RFC 3461) survive
    /// the queue, in lines of their own.
    @Test func dsnParametersRoundTrip() throws {
        let envelope = Self.withDSN()
        let text = String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)
        #expect(text.hasPrefix("postern-envelope 2\n"))
        #expect(text.contains("\ndsn-ret HDRS\n"))
        #expect(text.contains("\ndsn-envid abc+def%20100%25\n"))
        #expect(text.contains("\ndsn-rcpt 0 SUCCESS,FAILURE rfc822;bob@x\n"))
        #expect(text.contains("\ndsn-rcpt 2 NEVER -\n"))
        #expect(!text.contains("\ndsn-rcpt 1 "))
        #expect(try EnvelopeCodec.decode(Array(text.utf8)) == envelope)
    }

    /// What an older binary does with the DSN lines: it ignores lines it
    /// does not know once their value percent-decodes, and the rest of the
    /// file is exactly what it wrote itself.
    @Test func dsnLinesLeaveTheRestForOlderReaders() throws {
        let text = String(decoding: EnvelopeCodec.encode(Self.withDSN()), as: UTF8.self)
        let lines = text.split(separator: "\n")
        let dsnLines = lines.filter { $0.hasPrefix("dsn-") }
        #expect(dsnLines.count == 4)
        for line in dsnLines {
            #expect(EnvelopeCodec.percentDecode(line[line.index(after: line.firstIndex(of: " ")!)...]) != nil)
        }
        let withoutDSN = lines.filter { !$0.hasPrefix("dsn-") }.joined(separator: "\n") + "\n"
        #expect(withoutDSN == String(decoding: EnvelopeCodec.encode(Self.sample()), as: UTF8.self))
    }

    static let brokenDSN: [(String, EnvelopeCodec.DecodeError)] = [
        ("dsn-rcpt 1 NEVER -", .inconsistent("dsn-rcpt names no such recipient")),
        ("dsn-rcpt 0 ALWAYS -", .badLine(11, "bad dsn-rcpt")),
        ("dsn-rcpt 0 - bob@x", .badLine(11, "bad dsn-rcpt")),
        ("dsn-rcpt 0 NEVER", .badLine(11, "bad dsn-rcpt")),
        ("dsn-rcpt -1 NEVER -", .badLine(11, "bad dsn-rcpt")),
        ("dsn-rcpt 0 NEVER -\ndsn-rcpt 0 NEVER -", .badLine(12, "bad dsn-rcpt")),
        ("dsn-ret MAYBE", .inconsistent("bad dsn-ret")),
    ]

    @Test("broken DSN lines", arguments: brokenDSN)
    func brokenDSNLine(line: String, error: EnvelopeCodec.DecodeError) {
        let text = "postern-envelope 2\nid 0006123456789ABC\ncreated 1764277000.250000\nsender a@example.org\nsize 12\n"
            + "state ready\nattempts 0\nclient ::1\nprotocol ESMTP\nrcpt pending - b@example.net\n\(line)\nend\n"
        #expect(throws: error) { try EnvelopeCodec.decode(Array(text.utf8)) }
    }

    @Test func historyKeepsTheNewestAttempts() {
        var envelope = Self.sample()
        for second in 0..<50 {
            envelope.record(.init(time: Date(timeIntervalSince1970: Double(second)), result: .deferred, nextHop: nil,
                                  recipients: [0], reply: "\(second)"))
        }
        #expect(envelope.history.count == Envelope.attemptHistoryLimit)
        #expect(envelope.history.first?.reply == "30" && envelope.history.last?.reply == "49")
    }

    @Test func attemptNamingAMissingRecipientIsRefused() {
        var envelope = Self.sample()
        envelope.record(.init(time: Date(), result: .failed, nextHop: nil, recipients: [7], reply: "x"))
        #expect(throws: EnvelopeCodec.DecodeError.inconsistent("attempt names no such recipient")) {
            try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope))
        }
    }

    @Test("recipient domain", arguments: [("bob@Example.NET", "example.net"), ("\"a@b\"@x.example", "x.example"),
                                          ("Postmaster", nil)] as [(String, String?)])
    func recipientDomain(address: String, domain: String?) {
        #expect(Envelope.Recipient(address: address).domain == domain)
    }

    @Test func queueIDsAreUniqueAndSorted() {
        let generator = QueueIDGenerator()
        let ids = (0..<10_000).map { _ in generator.next() }
        #expect(Set(ids).count == ids.count)
        #expect(ids == ids.sorted())
        #expect(ids.allSatisfy { $0.description.count == 16 && QueueID($0.description) == $0 })
        #expect(abs(ids[0].date.timeIntervalSinceNow) < 60)
    }

    @Test func queueIDsAreSixteenUpperCaseHexDigits() {
        #expect(QueueID(value: 0x5_F1A2_B3C4_D5E6).description == "0005F1A2B3C4D5E6")
        #expect(QueueID(value: 0).description == "0000000000000000")
        #expect(QueueID(value: .max).description == "FFFFFFFFFFFFFFFF")
        #expect("\(QueueID(value: 0xABC))" == "0000000000000ABC")
    }

    @Test func generatorNeverGoesBehindExistingIDs() {
        let future = QueueID(value: UInt64(Date().timeIntervalSince1970 * 1_000_000) + 3_600_000_000)
        #expect(QueueIDGenerator(after: future).next() > future)
    }

    @Test("queue ID parsing", arguments: [("0006123456789ABC", true), ("0006123456789abc", false), ("123", false), ("000612345678ZZZZ", false)])
    func queueIDParsing(text: String, valid: Bool) {
        #expect((QueueID(text) != nil) == valid)
    }
}

@Suite("Envelope codec, exact octets")
struct EnvelopeCodecGoldenTests {
    /// The whole file for an envelope with every field, byte for byte as the
    /// string-built encoder wrote it before the octet-built one (issue #15):
    /// files written by either read the same, and diffs stay small.
    @Test func everyFieldExactly() {
        var envelope = EnvelopeCodecTests.withDSN()
        envelope.layout = .record
        envelope.bodyOffset = 17
        envelope.delayWarned = true
        envelope.quarantineReason = "virus Eicar-Test-Signature"
        envelope.recipients[1].lastReply = "-"
        envelope.record(.init(time: Date(timeIntervalSince1970: 1_764_277_302.000001), result: .deferred, nextHop: "[10.0.0.1]:25",
                              recipients: [0, 2, 11], reply: ""))
        let text = String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)
        #expect(text == EnvelopeCodecGoldenTests.expected)
    }

    static let expected = """
        postern-envelope 4
        id 0006123456789ABC
        created 1764277000.250000
        sender alice@example.org
        size 1234
        state deferred
        attempts 3
        next-attempt 1764280000.000000
        last-reply 451%204.3.0%20try%20later
        client ::1
        helo client%20example
        protocol ESMTPS
        8bitmime 1
        smtputf8 1
        delay-warned 1
        header X-Spam-Score:%201.5%0D%0A
        header X-Note:%20folded%0D%0A%09second%20line%20100%25%0D%0A
        body-offset 17
        quarantine-reason virus%20Eicar-Test-Signature
        dsn-ret HDRS
        dsn-envid abc+def%20100%25
        dsn-rcpt 0 SUCCESS,FAILURE rfc822;bob@x
        dsn-rcpt 2 NEVER -
        attempt 1764277300.000000 deferred mx.example.net 1 451%204.3.0%20try%20later
        attempt 1764277301.000000 failed - - no%20route
        attempt 1764277302.000001 deferred [10.0.0.1]:25 0,2,11 %
        rcpt pending - bob@example.net
        rcpt deferred %2D "odd%20name"@example.net
        rcpt failed 550%205.1.1%20100%25%20gone 用户@例子.广告
        end

        """
}
