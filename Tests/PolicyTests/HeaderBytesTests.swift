import MailMessage
import Policy
import Testing

/// Rewriting one field leaves the others' octets alone, even when they are
/// not UTF-8, not well formed, or oddly spaced (DKIM `simple` survives).
@Suite("Header bytes through a rewrite")
struct HeaderBytesTests {
    static let block: [UInt8] = Array("Received: from a\r\n\tby b; Fri, 27 Nov 2026 10:00:00 +0000\r\nSubject: caf".utf8)
        + [0xE9] + Array("\r\nnot a header line\r\nFrom : Bob <bob@example.edu>\r\nX-Drop: me\r\nTo: c@example.net\r\n".utf8)

    @Test func untouchedFieldsKeepTheirOctets() throws {
        var rules = HeaderRules()
        rules.remove = ["X-Drop"]
        let rewriter = try HeaderRewriter(rules: rules)
        let rendered = HeaderRewriter.render(rewriter.rewrite(HeaderSection(parsing: Self.block)))
        let expected: [UInt8] = Array("Received: from a\r\n\tby b; Fri, 27 Nov 2026 10:00:00 +0000\r\nSubject: caf".utf8)
            + [0xE9] + Array("\r\nnot a header line\r\nFrom : Bob <bob@example.edu>\r\nTo: c@example.net\r\n".utf8)
        #expect(rendered == expected)
    }

    @Test func aChangedFieldIsWrittenAnew() {
        var section = HeaderSection(parsing: Self.block)
        section.fields[1].rawValue = " new"
        let rendered = String(decoding: HeaderRewriter.render(section), as: UTF8.self)
        #expect(rendered.contains("\r\nSubject: new\r\nFrom : Bob"))
        #expect(!rendered.contains("not a header line")) // it went with the field it followed
    }

    @Test func parseAndRenderIsTheIdentity() {
        #expect(HeaderRewriter.render(HeaderSection(parsing: Self.block)) == Self.block)
    }
}
