import Testing
@testable import MailMessage

@Suite("Content-Type and Content-Disposition parameters (RFC 2045, RFC 2231)")
struct MIMEParameterTests {
    struct TypeCase: Sendable, CustomTestStringConvertible {
        var input: String
        var mimeType: String
        var parameters: [String: String]
        var testDescription: String { input }
    }

    @Test("Content-Type values", arguments: [
        TypeCase(input: "text/plain; charset=\"UTF-8\"", mimeType: "text/plain", parameters: ["charset": "UTF-8"]),
        TypeCase(input: "TEXT/HTML; CHARSET=iso-8859-1 (a comment)", mimeType: "text/html",
                 parameters: ["charset": "iso-8859-1"]),
        TypeCase(input: "multipart/mixed; boundary=\"----=_Part_0_Ab\"", mimeType: "multipart/mixed",
                 parameters: ["boundary": "----=_Part_0_Ab"]),
        TypeCase(input: "multipart/mixed; boundary=----=_NextPart_000_0001", mimeType: "multipart/mixed",
                 parameters: ["boundary": "----=_NextPart_000_0001"]),
        TypeCase(input: "text / plain ; charset = us-ascii", mimeType: "text/plain", parameters: ["charset": "us-ascii"]),
        TypeCase(input: "application/pdf; name=my file.pdf", mimeType: "application/pdf", parameters: ["name": "my file.pdf"]),
        TypeCase(input: "application/pdf; name=\"a\\\"b.pdf\"", mimeType: "application/pdf", parameters: ["name": "a\"b.pdf"]),
        TypeCase(input: "text/plain; charset=\"unterminated", mimeType: "text/plain", parameters: ["charset": "unterminated"]),
        TypeCase(input: "text/plain;;; charset=utf-8;", mimeType: "text/plain", parameters: ["charset": "utf-8"]),
        TypeCase(input: "text/plain; =novalue; charset; x=1", mimeType: "text/plain", parameters: ["x": "1"]),
        TypeCase(input: "(comment) text/plain (another (nested) one); a=\"x;y\"", mimeType: "text/plain",
                 parameters: ["a": "x;y"]),
        TypeCase(input: "message/rfc822", mimeType: "message/rfc822", parameters: [:]),
    ])
    func contentTypes(_ test: TypeCase) throws {
        let contentType = try #require(ContentType(parsing: test.input))
        #expect(contentType.mimeType == test.mimeType)
        var found: [String: String] = [:]
        for parameter in contentType.parameters.all { found[parameter.name] = parameter.value }
        #expect(found == test.parameters)
    }

    @Test("invalid media types are refused but keep their parameters",
          arguments: ["", "garbage", "/plain", "text/", "text/pl@in", "tëxt/plain", "a/b/c"])
    func invalidTypes(_ input: String) {
        #expect(ContentType(parsing: input) == nil)
        #expect(ContentType.parameters(parsing: input + "; name=x.exe")["name"] == "x.exe")
    }

    struct FilenameCase: Sendable, CustomTestStringConvertible {
        var input: String
        var filename: String?
        var charset: String? = nil
        var language: String? = nil
        var alternates: [String] = []
        var testDescription: String { input }
    }

    @Test("filenames: RFC 2231 continuations, charsets, percent-encoding, RFC 2047", arguments: [
        FilenameCase(input: "attachment; filename=report.pdf", filename: "report.pdf"),
        FilenameCase(input: "attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf", filename: "€ rates.pdf",
                     charset: "utf-8"),
        FilenameCase(input: "attachment; filename*=iso-8859-1'en'caf%E9.txt", filename: "café.txt",
                     charset: "iso-8859-1", language: "en"),
        FilenameCase(input: "attachment; filename*=windows-1252''%80.txt", filename: "€.txt", charset: "windows-1252"),
        FilenameCase(input: "attachment; filename*0=\"very long \"; filename*1=\"name.pdf\"",
                     filename: "very long name.pdf"),
        FilenameCase(input: "attachment; filename*0*=UTF-8''%C3%BC; filename*1*=ber; filename*2=\".exe\"",
                     filename: "über.exe", charset: "utf-8"),
        // Section 1 is not extended, so its "%20" is literal (RFC 2231 §4.1).
        FilenameCase(input: "attachment; filename*0*=utf-8''a%20; filename*1=b%20c.doc", filename: "a b%20c.doc",
                     charset: "utf-8"),
        FilenameCase(input: "attachment; filename*1=\"b.txt\"; filename*0=\"a\"", filename: "ab.txt"),
        FilenameCase(input: "attachment; filename=\"fallback.pdf\"; filename*=UTF-8''real.pdf", filename: "real.pdf",
                     charset: "utf-8", alternates: ["fallback.pdf"]),
        FilenameCase(input: "attachment; filename=\"=?UTF-8?B?w7xiZXIucGRm?=\"", filename: "über.pdf"),
        FilenameCase(input: "attachment; filename*=utf-8''100%zz.txt", filename: "100%zz.txt", charset: "utf-8"),
        FilenameCase(input: "attachment; filename*=no-quotes%41.txt", filename: "no-quotesA.txt"),
        FilenameCase(input: "attachment; filename=a.txt; filename=b.exe", filename: "a.txt", alternates: ["b.exe"]),
        FilenameCase(input: "; filename=x.exe", filename: "x.exe"),
        FilenameCase(input: "inline", filename: nil),
    ])
    func filenames(_ test: FilenameCase) {
        let disposition = ContentDisposition(parsing: test.input)
        #expect(disposition.filename == test.filename)
        let parameter = disposition.parameters.parameter("FILENAME")
        #expect(parameter?.charset == test.charset)
        #expect(parameter?.language == test.language)
        #expect(parameter?.alternateValues ?? [] == test.alternates)
    }

    @Test("Content-Type name, RFC 2231 and RFC 2047 forms", arguments: [
        ("application/octet-stream; name*=utf-8''%C3%BCber.exe", "über.exe"),
        ("application/octet-stream; name*0=\"long\"; name*1=\".scr\"", "long.scr"),
        ("application/octet-stream; name=\"=?iso-8859-1?q?r=E9sum=E9.doc?=\"", "résumé.doc"),
        ("application/octet-stream", nil),
    ] as [(String, String?)])
    func contentTypeName(_ input: String, _ expected: String?) throws {
        #expect(try #require(ContentType(parsing: input)).name == expected)
    }

    @Test("disposition types")
    func dispositionTypes() {
        #expect(ContentDisposition(parsing: "ATTACHMENT; filename=a").isAttachment)
        #expect(ContentDisposition(parsing: "inline").isInline)
        #expect(ContentDisposition(parsing: "; filename=x.exe").type == "")
        #expect(ContentDisposition(parsing: "").filename == nil)
    }

    @Test("boundaries are not RFC 2047-decoded")
    func boundaryKeptRaw() throws {
        let contentType = try #require(ContentType(parsing: "multipart/mixed; boundary=\"=?utf-8?q?a?=\""))
        #expect(contentType.boundary == "=?utf-8?q?a?=")
    }

    @Test("Content-Transfer-Encoding values", arguments: [
        ("base64", ContentTransferEncoding.base64), ("Quoted-Printable", .quotedPrintable),
        (" 7BIT (comment)", .sevenBit), ("8bit", .eightBit), ("binary", .binary), ("", .sevenBit),
        ("x-uuencode", .other("x-uuencode")),
    ])
    func transferEncodings(_ input: String, _ expected: ContentTransferEncoding) {
        #expect(ContentTransferEncoding(parsing: input) == expected)
    }

    @Test("file extensions as Windows sees them", arguments: [
        ("report.PDF", "pdf"), ("evil.exe.", "exe"), ("evil.exe  ", "exe"), ("C:\\dir\\x.scr", "scr"),
        ("../../a.js", "js"), ("archive.tar.gz", "gz"), ("noext", nil), (".bashrc", nil), ("dir.d/noext", nil),
        ("", nil), ("trailing.", nil),
    ] as [(String, String?)])
    func extensions(_ name: String, _ expected: String?) {
        #expect(MIMEPart.fileExtension(of: name) == expected)
    }

    @Test("parameter limits hold")
    func limits() {
        var limits = MIMELimits()
        limits.maxParameters = 3
        limits.maxParameterSections = 2
        let many = (0..<100).map { "p\($0)=v" }.joined(separator: "; ")
        #expect(ContentDisposition(parsing: "attachment; " + many, limits: limits).parameters.all.count == 3)
        let sections = (0..<10).map { "filename*\($0)=s\($0)" }.joined(separator: "; ")
        #expect(ContentDisposition(parsing: "attachment; " + sections, limits: limits).filename == "s0s1")
        // What was dropped is recorded, so that a policy can refuse it.
        #expect(ContentDisposition(parsing: "attachment; " + many, limits: limits).parameters.droppedParameters)
        #expect(ContentDisposition(parsing: "attachment; a=1; b=2; c=3;", limits: limits).parameters.droppedParameters == false)
        let split = ContentDisposition(parsing: "attachment; filename*0=a; filename*1=b; filename*2=c", limits: limits)
        #expect(split.parameters.truncatedNames == ["filename"])
    }

    @Test("RFC 2231 sections: each reader's way of joining them is kept", arguments: [
        ("filename*0=\"a.txt\"; filename*0=\"b.exe\"", ["a.txt", "b.exe"]),
        ("filename*0=\"evil\"; filename*1=\".exe\"; filename*3=\".txt\"", ["evil.exe.txt", "evil.exe"]),
        ("filename*1=\"x\"; filename*2=\".exe\"", ["x.exe"]),
        ("filename*0=\"a\"; filename*1=\".pdf\"", ["a.pdf"]),
        ("filename*0*=utf-8''%61; filename*1=\".exe\"; filename=\"b.txt\"", ["a.exe", "b.txt"]),
    ] as [(String, [String])])
    func sectionReadings(_ input: String, _ expected: [String]) throws {
        let parameter = try #require(ContentDisposition(parsing: "attachment; " + input).parameters.parameter("filename"))
        #expect(parameter.allDecodedValues == expected)
    }
}
