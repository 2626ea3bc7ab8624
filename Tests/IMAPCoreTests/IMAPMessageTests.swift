import Testing
@testable import IMAPCore

/// A message from lines joined with CRLF.
func message(_ lines: String...) -> IMAPMessage {
    IMAPMessage(Array(lines.joined(separator: "\r\n").utf8))
}

func section(_ message: IMAPMessage, _ part: [UInt32] = [], _ text: SectionText? = nil) -> String {
    String(decoding: message.section(SectionSpec(part: part, text: text)), as: UTF8.self)
}

@Suite("IMAP message: sections, partials, hostile MIME")
struct IMAPMessageTests {
    static let forwarded = message(
        "From: a@example.com",
        "Subject: outer",
        "Content-Type: multipart/mixed; boundary=x",
        "",
        "--x",
        "Content-Type: text/plain",
        "",
        "hello",
        "--x",
        "Content-Type: message/rfc822",
        "",
        "From: b@example.com",
        "Subject: inner",
        "",
        "inner body",
        "--x--",
        "")

    static let sections: [([UInt32], SectionText?, String)] = [
        ([], .header, "From: a@example.com\r\nSubject: outer\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"),
        ([], .headerFields(["SUBJECT", "FROM"]), "From: a@example.com\r\nSubject: outer\r\n\r\n"),
        ([], .headerFields(["subject"]), "Subject: outer\r\n\r\n"),
        ([], .headerFields(["X-NONE"]), "\r\n"),
        ([], .headerFieldsNot(["CONTENT-TYPE"]), "From: a@example.com\r\nSubject: outer\r\n\r\n"),
        ([1], nil, "hello"),
        ([1], .mime, "Content-Type: text/plain\r\n\r\n"),
        ([1, 1], nil, "hello"),
        ([1, 1, 1], nil, ""),
        ([1], .header, ""),
        ([1], .text, ""),
        ([2], nil, "From: b@example.com\r\nSubject: inner\r\n\r\ninner body"),
        ([2], .mime, "Content-Type: message/rfc822\r\n\r\n"),
        ([2], .header, "From: b@example.com\r\nSubject: inner\r\n\r\n"),
        ([2], .headerFields(["SUBJECT"]), "Subject: inner\r\n\r\n"),
        ([2], .headerFieldsNot(["SUBJECT"]), "From: b@example.com\r\n\r\n"),
        ([2], .text, "inner body"),
        ([2, 1], nil, "inner body"),
        ([2, 1], .mime, "From: b@example.com\r\nSubject: inner\r\n\r\n"),
        ([2, 2], nil, ""),
        ([3], nil, ""),
        ([3], .mime, ""),
        ([4_294_967_295], nil, ""),
    ]

    @Test("section", arguments: sections)
    func sectionOfForwarded(part: [UInt32], text: SectionText?, expected: String) {
        #expect(section(Self.forwarded, part, text) == expected)
    }

    @Test func wholeAndText() {
        let whole = Self.forwarded.section(SectionSpec())
        #expect(whole == Self.forwarded.bytes)
        #expect(whole.count == Self.forwarded.size)
        #expect(section(Self.forwarded, [], .text).hasPrefix("--x\r\n"))
        #expect(section(Self.forwarded, [], .text).hasSuffix("--x--\r\n"))
    }

    @Test func foldedFieldsKeepTheirLines() {
        let folded = message("Subject: one", "\ttwo", "X-A: 1", "x-a: 2", "", "body")
        #expect(section(folded, [], .headerFields(["SUBJECT"])) == "Subject: one\r\n\ttwo\r\n\r\n")
        #expect(section(folded, [], .headerFields(["X-A"])) == "X-A: 1\r\nx-a: 2\r\n\r\n")
    }

    static let partials: [(UInt32, UInt32, String)] = [
        (0, 3, "012"),
        (5, 100, "56789"),
        (9, 1, "9"),
        (10, 1, ""),
        (4_294_967_295, 4_294_967_295, ""),
        (0, 4_294_967_295, "0123456789"),
    ]

    @Test("partial", arguments: partials)
    func partial(offset: UInt32, length: UInt32, expected: String) {
        let bytes = Array("0123456789".utf8)
        #expect(String(decoding: IMAPMessage.partial(bytes, Partial(offset: offset, length: length)), as: UTF8.self) == expected)
        #expect(IMAPMessage.partial(bytes, nil) == bytes)
    }

    /// Served octets are CRLF and NUL-free; sizes follow the served octets.
    @Test func bareLineFeedsAndNULs() {
        let stored: [UInt8] = Array("Subject: x\n\nab\0c\r\nd\n".utf8)
        let served = IMAPMessage(stored)
        #expect(served.bytes == Array("Subject: x\r\n\r\nab\u{80}c\r\nd\r\n".unicodeScalars.map { UInt8($0.value) }))
        #expect(served.size == served.bytes.count)
        let clean = Array("Subject: x\r\n\r\nbody\r\n".utf8)
        #expect(IMAPMessage(clean).bytes == clean)
        #expect(section(served, [1]) == String(decoding: Array("ab\u{80}c\r\nd\r\n".unicodeScalars.map { UInt8($0.value) }), as: UTF8.self))
    }

    /// 200 nested multiparts: parsing stops nesting at 32 levels and the
    /// structure stays well-formed.
    @Test func deepNestingIsBounded() throws {
        var text = "Subject: deep\r\n"
        for level in 0..<200 { text += "Content-Type: multipart/mixed; boundary=b\(level)\r\n\r\n--b\(level)\r\n" }
        text += "Content-Type: text/plain\r\n\r\nbottom\r\n"
        for level in (0..<200).reversed() { text += "--b\(level)--\r\n" }
        let deep = IMAPMessage(Array(text.utf8))
        let structure = deep.bodyStructure(extensible: true)
        _ = try IMAPData.read(structure)
        var depth = 0, deepest = 0
        for byte in structure {
            if byte == UInt8(ascii: "(") { depth += 1; deepest = max(deepest, depth) }
            if byte == UInt8(ascii: ")") { depth -= 1 }
        }
        #expect(deepest <= 40)
        #expect(deep.section(SectionSpec(part: Array(repeating: 1, count: 300))).isEmpty)
        _ = try IMAPData.read(deep.envelope())
    }

    /// Nested message/rfc822 parts, each with an envelope, also stop at the limit.
    @Test func deepMessagesAreBounded() throws {
        var text = ""
        for level in 0..<100 { text += "Subject: level \(level)\r\nContent-Type: message/rfc822\r\n\r\n" }
        text += "Subject: bottom\r\n\r\nbody\r\n"
        let deep = IMAPMessage(Array(text.utf8))
        let structure = deep.bodyStructure(extensible: false)
        _ = try IMAPData.read(structure)
        #expect(structure.count < 40_000)
        let path = [UInt32](repeating: 1, count: 10)
        #expect(section(deep, path, .header).hasPrefix("Subject: level 10\r\n"))
    }

    /// 5000 parts: the structure lists at most MIMELimits.maxParts of them.
    @Test func manyPartsAreBounded() throws {
        var text = "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
        for index in 0..<5000 { text += "--m\r\n\r\n\(index)\r\n" }
        text += "--m--\r\n"
        let many = IMAPMessage(Array(text.utf8))
        guard case .list(let items) = try IMAPData.read(many.bodyStructure(extensible: false)) else {
            Issue.record("not a list")
            return
        }
        #expect(items.count <= 1001)
        #expect(section(many, [3]) == "2")
    }

    static let hostile: [String] = [
        "",
        "\r\n",
        "no header at all",
        "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n",
        "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n",
        "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n--x--",
        "Content-Type: message/rfc822\r\n\r\n",
        "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
        "Content-Type: text/plain; charset=\"\u{ff}\"; name*0*=x'y'%; name*1=\"\r\n\r\n",
        "From: \"unterminated\r\nTo: ((((((\r\nCc: <<<<@@@@>>>>,,,;;;:::\r\nBcc: g:;g:;g:\r\n\r\n",
        "Content-Language: (en, ,(de\r\nContent-Disposition: ; filename*=utf-8''%E2%82\r\n\r\n",
    ]

    @Test("hostile input renders well-formed", arguments: hostile)
    func hostileInput(text: String) throws {
        let hostile = IMAPMessage(Array(text.utf8))
        _ = try IMAPData.read(hostile.envelope())
        _ = try IMAPData.read(hostile.bodyStructure(extensible: true))
        _ = try IMAPData.read(hostile.bodyStructure(extensible: false))
        for part: [UInt32] in [[], [1], [1, 1], [2], [1, 2, 3]] {
            for text: SectionText? in [nil, .header, .text, .mime, .headerFields(["FROM"]), .headerFieldsNot(["FROM"])] {
                _ = hostile.section(SectionSpec(part: part, text: text))
            }
        }
    }
}
