import Foundation
import NIOCore
import Testing
@testable import MailMessage

@Suite("MIME tree parsing")
struct MIMEParserTests {
    static let nestedShape = "multipart/mixed[multipart/alternative[text/plain,text/html],application/pdf,"
        + "message/rfc822[multipart/mixed[text/plain,application/octet-stream]]]"

    @Test("nested multiparts and an encapsulated message")
    func nestedTree() throws {
        let bytes = Samples.nested
        let message = MIMEParser.parse(bytes)
        #expect(message.root.shape == Self.nestedShape)
        #expect(message.size == bytes.count)
        #expect(message.from == "Jürgen Müller <juergen@example.de>")
        #expect(message.to == "Ops <ops@example.net>, René <rene@example.org>")
        #expect(message.subject == "Grüße and forwarded mail")
        #expect(message.date == "Fri, 27 Nov 2026 21:15:16 +0000")
        #expect(message.messageID == "<nested.1@example.de>")
        #expect(message.parts.map(\.pathString) == ["1", "1.1", "1.1.1", "1.1.2", "1.2", "1.3", "1.3.1", "1.3.1.1", "1.3.1.2"])
        #expect(message.root.defectSummary == [])
        #expect(!message.hasDefects)

        let text = try #require(message.root.part(at: [1, 1, 1]))
        #expect(text.transferEncoding == .quotedPrintable)
        #expect(text.charset == "utf-8")
        #expect(text.decodedSize == "Grüße aus Köln, a long line with a soft break.".utf8.count)
        let html = try #require(message.root.part(at: [1, 1, 2]))
        #expect(html.charset == "iso-8859-1")
        #expect(html.decodedSize == "<p>Gr&uuml;&szlig;e</p>".utf8.count)

        let pdf = try #require(message.root.part(at: [1, 2]))
        #expect(pdf.filename == "€ rates for 2026.pdf")
        #expect(pdf.filenameExtension == "pdf")
        #expect(pdf.disposition?.type == "attachment")
        #expect(pdf.decodedSize == 48)
        #expect(Array(bytes[pdf.bodyRange]) == Array("JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K".utf8))

        let forwarded = try #require(message.root.part(at: [1, 3]))
        #expect(forwarded.disposition?.isInline == true)
        #expect(forwarded.decodedSize == forwarded.bodyRange.count)
        let inner = try #require(forwarded.encapsulatedMessage)
        #expect(inner.from == "Mallory <m@example.com>")
        #expect(inner.subject == "Привет мир")
        #expect(inner.root.contentType.boundary == "fwd")
        #expect(Array(bytes[forwarded.bodyRange]).starts(with: Array("From: Mallory".utf8)))

        let executable = try #require(message.root.part(at: [1, 3, 1, 2]))
        #expect(executable.filename == "Überweisung.exe")
        #expect(executable.filenameExtension == "exe")
        #expect(executable.disposition == nil)
        #expect(executable.decodedSize == 48)
        #expect(message.attachments.map(\.pathString) == ["1.2", "1.3.1.2"])
        #expect(Array(bytes[try #require(message.root.part(at: [1, 3, 1, 1])).bodyRange]) == Array("see attached".utf8))
    }

    @Test("chunking never changes the result", arguments: [1, 2, 3, 7, 64, 1000], [false, true])
    func chunked(_ size: Int, tinyLineLimits: Bool) {
        // A tiny limit (just enough for "--outer--") makes most body lines
        // "long", so they are passed on in pieces.
        var limits = MIMELimits()
        if tinyLineLimits { limits.maxBoundaryLineLength = 9 }
        let bytes = Samples.nested
        var parser = MIMEParser(limits: limits)
        var start = 0
        while start < bytes.count {
            parser.feed(bytes[start..<min(start + size, bytes.count)])
            start += size
        }
        let whole = MIMEParser.parse(bytes, limits: limits)
        #expect(parser.finish() == whole)
        #expect(whole.root.shape == Self.nestedShape)
        #expect(whole.parts.map(\.decodedSize) == MIMEParser.parse(bytes).parts.map(\.decodedSize))
    }

    @Test("ByteBuffer input")
    func byteBuffer() {
        var parser = MIMEParser()
        parser.feed(ByteBuffer(bytes: Samples.nested))
        #expect(parser.finish() == MIMEParser.parse(Samples.nested))
    }

    @Test("bare LF line endings give the same tree and sizes")
    func bareLineFeeds() {
        let crlfMessage = MIMEParser.parse(Samples.nested)
        let lfMessage = MIMEParser.parse(Samples.nested.filter { $0 != UInt8(ascii: "\r") })
        #expect(lfMessage.root.shape == Self.nestedShape)
        let leafSizes = { (message: MIMEMessage) in message.parts.filter { $0.children.isEmpty }.map(\.decodedSize) }
        #expect(leafSizes(lfMessage) == leafSizes(crlfMessage))
    }

    @Test("a single-part message")
    func singlePart() {
        let message = MIMEParser.parse(messageBytes("Subject: hi\n\nHello\nWorld\n"))
        #expect(message.root.shape == "text/plain")
        #expect(message.root.charset == "us-ascii")
        #expect(message.root.decodedSize == "Hello\r\nWorld\r\n".utf8.count)
        #expect(message.root.bodyRange == 15..<29)
        #expect(message.subject == "hi")
        #expect(message.root.defects == [])
    }

    @Test("the CRLF before a delimiter belongs to the delimiter")
    func delimiterLineBreak() {
        let message = MIMEParser.parse(messageBytes("""
        Content-Type: multipart/mixed; boundary=b

        --b

        one line
        --b

        two
        lines

        --b
        Content-Transfer-Encoding: quoted-printable

        soft=
        --b--
        """))
        #expect(message.root.children.map(\.decodedSize) == [8, 12, 4])
        #expect(message.root.defectSummary == [])
    }

    @Test("multipart/digest parts default to message/rfc822")
    func digest() {
        let message = MIMEParser.parse(messageBytes("""
        Content-Type: multipart/digest; boundary=d

        --d

        Subject: first

        one
        --d
        Content-Type: text/plain

        not a message
        --d--
        """))
        #expect(message.root.shape == "multipart/digest[message/rfc822[text/plain],text/plain]")
        #expect(message.root.children.first?.encapsulatedMessage?.subject == "first")
    }

    @Test("boundaries: trailing padding, prefixes, outer delimiters")
    func boundaryMatching() {
        let message = MIMEParser.parse(messageBytes("""
        Content-Type: multipart/mixed; boundary=ab

        --ab \t
        Content-Type: multipart/mixed; boundary=abc

        --abc
        Content-Type: text/plain

        --abcd is not a delimiter
        --ab is not one either
        --abc--
        --ab--
        """))
        #expect(message.root.shape == "multipart/mixed[multipart/mixed[text/plain]]")
        #expect(message.root.part(at: [1, 1, 1])?.decodedSize == "--abcd is not a delimiter\r\n--ab is not one either".utf8.count)
        #expect(message.root.defectSummary == [])
    }

    @Test("mbox From_ line is skipped")
    func mboxLine() {
        let message = MIMEParser.parse(messageBytes("From someone@example.org Fri Nov 27 21:15:16 2026\nSubject: x\n\nbody\n"))
        #expect(message.subject == "x")
        #expect(message.root.defects == [])

        // A From_ line longer than a header section may be, fed in pieces.
        var limits = MIMELimits()
        limits.maxHeaderBytes = 50
        let long = messageBytes("From " + String(repeating: "x", count: 200) + "\nSubject: x\n\nbody\n")
        var parser = MIMEParser(limits: limits)
        for start in stride(from: 0, to: long.count, by: 7) {
            parser.feed(long[start..<min(start + 7, long.count)])
        }
        let chunked = parser.finish()
        #expect(chunked == MIMEParser.parse(long, limits: limits))
        #expect(chunked.subject == "x")
        #expect(chunked.root.defects == [])
    }

    @Test("reading from a file")
    func file() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("mime-\(UInt64.random(in: 0...UInt64.max)).eml").path
        try Data(Samples.nested).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try MIMEParser.parse(contentsOfFile: path, chunkSize: 5) == MIMEParser.parse(Samples.nested))
        #expect(throws: MIMEFileError.self) { try MIMEParser.parse(contentsOfFile: path + ".missing") }
        #expect(throws: MIMEFileError.self) {
            try MIMEParser.parse(contentsOfFile: FileManager.default.temporaryDirectory.path)
        }
    }
}
