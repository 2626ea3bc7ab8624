import Testing
@testable import MailMessage

@Suite("RFC 2047 encoded words")
struct EncodedWordTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var input: String
        var expected: String
        var testDescription: String { input }
    }

    @Test("decodes words", arguments: [
        Case(input: "=?UTF-8?B?R3LDvMOfZQ==?=", expected: "Grüße"),
        Case(input: "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", expected: "Grüße"),
        Case(input: "=?ISO-8859-1?Q?Gr=FC=DFe?=", expected: "Grüße"),
        Case(input: "=?iso-8859-15?q?=A4uro?=", expected: "€uro"),
        Case(input: "=?ISO-8859-1?q?=A4uro?=", expected: "¤uro"),
        Case(input: "=?windows-1252?Q?=80_price?=", expected: "€ price"),
        Case(input: "=?us-ascii?q?plain_text?=", expected: "plain text"),
        Case(input: "=?koi8-r?b?8NLJ18XUIM3J0g==?=", expected: "Привет мир"),
        Case(input: "=?shift_jis?B?grGC8YLJgr+CzQ==?=", expected: "こんにちは"),
        Case(input: "=?utf-8*en?q?language_suffix?=", expected: "language suffix"),
        Case(input: "=?UTF-8?b?w7xiZXIucGRm?=", expected: "über.pdf"),
    ])
    func singleWords(_ test: Case) {
        #expect(EncodedWord.decode(test.input) == test.expected)
    }

    @Test("joins and separates words as readers do", arguments: [
        // White space between adjacent words disappears (§6.2).
        Case(input: "=?utf-8?q?a?= =?utf-8?q?b?=", expected: "ab"),
        Case(input: "=?utf-8?q?a?=\r\n =?utf-8?q?b?=", expected: "ab"),
        // A multi-byte character split across two words (bytes joined first).
        Case(input: "=?utf-8?b?ww==?= =?utf-8?b?pA==?=", expected: "ä"),
        // Adjacent words in different charsets.
        Case(input: "=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=", expected: "éé"),
        // Literal text around words keeps its spaces.
        Case(input: "Hello =?utf-8?q?W=C3=B6rld?= !", expected: "Hello Wörld !"),
        Case(input: "=?utf-8?q?J=C3=BCrgen?= <j@example.de>", expected: "Jürgen <j@example.de>"),
        // Not separated from text: decoded anyway (common practice).
        Case(input: "abc=?utf-8?q?d?=", expected: "abcd"),
    ])
    func adjacency(_ test: Case) {
        #expect(EncodedWord.decode(test.input) == test.expected)
    }

    @Test("leaves non-words alone and never fails", arguments: [
        Case(input: "plain text", expected: "plain text"),
        Case(input: "", expected: ""),
        Case(input: "=?utf-8?x?abc?=", expected: "=?utf-8?x?abc?="),
        Case(input: "=?utf-8?q?unterminated", expected: "=?utf-8?q?unterminated"),
        Case(input: "=??q?a?=", expected: "=??q?a?="),
        Case(input: "=?utf-8?q?has space?=", expected: "=?utf-8?q?has space?="),
        Case(input: "a = b ?= c =?", expected: "a = b ?= c =?"),
        Case(input: "=?utf-8?q?a=ZZ?=", expected: "a=ZZ"),
        Case(input: "=?utf-8?b?!!!?=", expected: ""),
        // Unknown charset: UTF-8 if valid, else Windows-1252 / Latin-1.
        Case(input: "=?x-unknown?q?caf=C3=A9?=", expected: "café"),
        Case(input: "=?x-unknown?q?caf=E9?=", expected: "café"),
        // Mislabelled: invalid in the named charset, so the fallback decides.
        Case(input: "=?us-ascii?q?caf=C3=A9?=", expected: "café"),
        Case(input: "=?utf-8?q?caf=E9?=", expected: "café"),
    ])
    func malformed(_ test: Case) {
        #expect(EncodedWord.decode(test.input) == test.expected)
    }

    @Test("decoded header values")
    func headerValues() {
        let headers = HeaderSection(parsing: messageBytes("""
        From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>
        Subject: =?UTF-8?B?R3LDvMOfZQ==?= and
         =?iso-8859-1?q?mehr_Gr=FC=DFe?=
        To: a@example.org
        To: =?windows-1252?q?=80uro?= <b@example.org>

        body
        """))
        #expect(headers.decodedValue("from") == "Jürgen Müller <juergen@example.de>")
        #expect(headers.decodedValue("Subject") == "Grüße and mehr Grüße")
        #expect(headers.decodedValues("To") == ["a@example.org", "€uro <b@example.org>"])
        #expect(headers.decodedValue("Cc") == nil)
        let message = MIMEParser.parse(messageBytes("To: a@example.org\nTo: b@example.org\n\n"))
        #expect(message.to == "a@example.org, b@example.org")
    }

    @Test("charset names and aliases", arguments: [
        ("UTF-8", "utf-8"), ("latin1", "iso-8859-1"), ("ISO_8859-15", "iso-8859-15"),
        ("cp1252", "windows-1252"), ("\"us-ascii\"", "us-ascii"), ("KOI8-R", "koi8-r"),
    ])
    func charsetAliases(_ alias: String, _ canonical: String) throws {
        let aliasEncoding = try #require(Charset.encoding(named: alias))
        #expect(aliasEncoding == Charset.encoding(named: canonical))
    }

    @Test("charset decoding never fails")
    func charsetFallback() {
        #expect(Charset.decode([0x63, 0x61, 0x66, 0xE9], charset: "iso-8859-1") == "café")
        #expect(Charset.decode([0xA4], charset: "iso-8859-15") == "€")
        #expect(Charset.decode([0x80], charset: "windows-1252") == "€")
        #expect(Charset.decode([0x81], charset: "windows-1252") == "\u{81}") // undefined in 1252
        #expect(Charset.decode([0xC3, 0xA9], charset: nil) == "é")
        #expect(Charset.decode([0xFF, 0xFE, 0x00], charset: "no-such-charset").unicodeScalars.count == 3)
        #expect(Charset.encoding(named: "no-such-charset") == nil)
    }
}
