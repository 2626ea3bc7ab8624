import Testing
@testable import MailMessage

/// Broken and hostile messages: each is parsed as far as it goes, and the
/// tree and defects are what a careful reader would make of it.
@Suite("Malformed MIME")
struct MIMEMalformedTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var message: String
        var shape: String
        var defects: [String]
        var testDescription: String { name }
    }

    @Test("malformed structure", arguments: [
        Case(name: "empty input", message: "", shape: "text/plain", defects: []),
        Case(name: "headers only, no line break", message: "Subject: x", shape: "text/plain", defects: []),
        Case(name: "multipart without boundary",
             message: "Content-Type: multipart/mixed\n\n--x\n\nhello\n--x--\n",
             shape: "multipart/mixed", defects: ["1:multipart without boundary parameter"]),
        Case(name: "boundary never appears",
             message: "Content-Type: multipart/mixed; boundary=zz\n\njust text\n",
             shape: "multipart/mixed", defects: ["1:multipart body without any boundary delimiter"]),
        Case(name: "close delimiter without parts",
             message: "Content-Type: multipart/mixed; boundary=zz\n\n--zz--\n",
             shape: "multipart/mixed", defects: ["1:multipart body without any boundary delimiter"]),
        Case(name: "unterminated multipart",
             message: "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Type: image/png\n\ntwo\n",
             shape: "multipart/mixed[text/plain,image/png]", defects: ["1:multipart without close-delimiter"]),
        Case(name: "inner multipart closed by the outer delimiter",
             message: """
             Content-Type: multipart/mixed; boundary=outer

             --outer
             Content-Type: multipart/alternative; boundary=inner

             --inner

             text
             --outer
             Content-Type: application/zip

             UEsDBA==
             --outer--
             """,
             shape: "multipart/mixed[multipart/alternative[text/plain],application/zip]",
             defects: ["1.1:multipart without close-delimiter"]),
        Case(name: "invalid Content-Type",
             message: "Content-Type: garbage; name=evil.exe\n\nMZ\n",
             shape: "text/plain", defects: ["1:invalid Content-Type \"garbage; name=evil.exe\", text/plain assumed"]),
        Case(name: "header garbage: a part with no empty line after its headers",
             message: "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\nthis is body\n--b--\n",
             shape: "multipart/mixed[text/html]", defects: ["1.1:header section not ended by an empty line"]),
        Case(name: "binary junk in the header section",
             message: "Subject: ok\n\u{01}\u{02}\u{7F}junk\nContent-Type: text/html\n\nbody\n",
             shape: "text/plain", defects: ["1:header section not ended by an empty line"]),
        Case(name: "unknown transfer encoding",
             message: "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 a\n",
             shape: "text/plain", defects: ["1:unknown transfer encoding \"x-uuencode\""]),
        Case(name: "base64-encoded multipart",
             message: "Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\n--b\n\nx\n--b--\n",
             shape: "multipart/mixed[text/plain]", defects: ["1:container with transfer encoding \"base64\""]),
        Case(name: "base64-encoded message/rfc822 is decoded and parsed, as readers do",
             message: "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQpib2R5\n",
             shape: "message/rfc822[text/plain]", defects: ["1:container with transfer encoding \"base64\""]),
        Case(name: "conflicting filenames",
             message: "Content-Disposition: attachment; filename=\"a.txt\"; filename*=utf-8''a.exe\n\nx\n",
             shape: "text/plain", defects: ["1:conflicting values for parameter \"filename\""]),
        Case(name: "repeated Content-Type: the first wins",
             message: "Content-Type: text/plain\nContent-Type: application/x-msdownload\n\nMZ\n",
             shape: "text/plain", defects: ["1:field Content-Type given more than once",
                                            "1:Content-Type given twice with different values"]),
        Case(name: "message/rfc822 with nothing inside",
             message: "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n--b--\n",
             shape: "multipart/mixed[message/rfc822[text/plain]]", defects: []),
        Case(name: "NUL bytes and bare CR",
             message: "Subject: a\u{0}b\r\rx\n\nbody\u{0}\rmore\n",
             shape: "text/plain", defects: []),
    ])
    func malformed(_ test: Case) {
        let message = MIMEParser.parse(messageBytes(test.message))
        #expect(message.root.shape == test.shape)
        #expect(message.root.defectSummary == test.defects)
    }

    @Test("bad base64 body is decoded leniently")
    func badBase64() throws {
        let message = MIMEParser.parse(messageBytes("""
        Content-Type: multipart/mixed; boundary=b

        --b
        Content-Type: application/octet-stream
        Content-Transfer-Encoding: base64

        SGVs*bG8g!V29y\u{7}bGQ=
        A
        --b--
        """))
        let part = try #require(message.root.part(at: [1, 1]))
        #expect(part.decodedSize == "Hello World".utf8.count)
        #expect(part.defects == [.invalidBase64])
    }

    @Test("bad quoted-printable body")
    func badQuotedPrintable() {
        let message = MIMEParser.parse(messageBytes("Content-Transfer-Encoding: quoted-printable\n\n100% =XY off\n"))
        #expect(message.root.decodedSize == "100% =XY off\r\n".utf8.count)
        #expect(message.root.defects == [.invalidQuotedPrintable])
    }

    /// Found by the MIME fuzz target (fuzz/mime): an outer delimiter right
    /// after a part's header section (or right after the part's own
    /// delimiter) left the part's empty body two octets past its parent's end.
    @Test("empty part closed by an outer delimiter stays inside its parent", arguments: [
        "--inner\nContent-Type: text/plain\n\n--outer--\n",
        "--inner\n--outer--\n",
        "--inner\nContent-Type: message/rfc822\n\n--outer--\n",
    ])
    func emptyPartInsideParent(_ inner: String) throws {
        let text = "Content-Type: multipart/mixed; boundary=outer\n\n--outer\n"
            + "Content-Type: multipart/alternative; boundary=inner\n\n" + inner
        let message = MIMEParser.parse(messageBytes(text))
        let alternative = try #require(message.root.part(at: [1, 1]))
        let part = try #require(alternative.part(at: [1, 1, 1]))
        #expect(part.bodyRange.isEmpty)
        #expect(part.bodyRange.lowerBound >= alternative.bodyRange.lowerBound)
        #expect(part.bodyRange.upperBound <= alternative.bodyRange.upperBound)
        #expect(part.decodedSize == 0)
    }

    @Test("nesting bomb: multiparts", arguments: [40, 500])
    func multipartBomb(_ levels: Int) {
        var text = ""
        for level in 0..<levels {
            text += "Content-Type: multipart/mixed; boundary=b\(level)\n\n--b\(level)\n"
        }
        text += "\nleaf\n"
        for level in (0..<levels).reversed() { text += "--b\(level)--\n" }
        let message = MIMEParser.parse(messageBytes(text))
        #expect(message.root.depth == MIMEDefaults.limits.maxDepth + 1)
        let deepest = message.parts.last
        #expect(deepest?.path.count == MIMEDefaults.limits.maxDepth + 1)
        #expect(deepest?.defects.contains(.nestingTooDeep) == true)
        #expect(message.root.defectSummary.count == 1)
    }

    @Test("nesting bomb: encapsulated messages")
    func messageBomb() {
        let text = String(repeating: "Content-Type: message/rfc822\n\n", count: 10_000) + "Subject: deep\n\nbody\n"
        let message = MIMEParser.parse(messageBytes(text))
        #expect(message.root.depth == MIMEDefaults.limits.maxDepth + 1)
        #expect(message.parts.count == MIMEDefaults.limits.maxDepth + 1)
        #expect(message.parts.last?.defects == [.nestingTooDeep])
    }

    @Test("part-count bomb")
    func manyParts() {
        var limits = MIMELimits()
        limits.maxParts = 50
        let text = "Content-Type: multipart/mixed; boundary=b\n\n"
            + String(repeating: "--b\nContent-Type: application/x-msdownload\n\nMZ\n", count: 5000) + "--b--\n"
        let message = MIMEParser.parse(messageBytes(text), limits: limits)
        #expect(message.parts.count == 50)
        #expect(message.root.defects == [.tooManyParts])
        #expect(message.root.children.allSatisfy { $0.decodedSize == 2 })
    }

    @Test("header section over the limit")
    func hugeHeader() {
        var limits = MIMELimits()
        limits.maxHeaderBytes = 1000
        let text = "Subject: first\n" + String(repeating: "X-Filler: 0123456789\n", count: 500)
            + "Content-Type: text/html\n\nbody\n"
        let message = MIMEParser.parse(messageBytes(text), limits: limits)
        #expect(message.subject == "first")
        #expect(message.root.defects == [.headerTooLong])
        #expect(message.root.contentType.mimeType == "text/plain") // dropped with the rest
        #expect(message.root.decodedSize == 6)
    }

    @Test("very long lines are streamed, not buffered as boundaries")
    func longLines() throws {
        let long = String(repeating: "A", count: 1_000_000)
        let message = MIMEParser.parse(messageBytes("""
        Content-Type: multipart/mixed; boundary=b

        --b
        Content-Type: text/plain

        \(long)
        --b\(String(repeating: " ", count: 2000))
        --b--
        """))
        let part = try #require(message.root.part(at: [1, 1]))
        #expect(part.decodedSize == long.utf8.count + 2 + 3 + 2000)
        #expect(message.root.children.count == 1)
    }
}
