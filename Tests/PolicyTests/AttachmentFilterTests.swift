import Foundation
import MailMessage
import SMTPCore
import Testing
@testable import Policy

@Suite("Attachment filter ([attachments] rules)")
struct AttachmentFilterTests {
    static let session = SessionFacts(clientIP: nil)
    static let transaction = MessageFacts(sender: .null)

    static let rules: AttachmentRules = {
        var rules = AttachmentRules()
        rules.blockedExtensions = ["exe", "scr", "js"]
        rules.blockedContentTypes = ["application/x-msdownload"]
        return rules
    }()

    /// Message text written with "\n", spooled with CRLF.
    static func content(_ text: String) -> ReceivedContent {
        ReceivedContent(bytes: Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8))
    }

    static func verdict(_ text: String, rules: AttachmentRules = rules) async -> PolicyVerdict {
        await AttachmentFilter(rules: rules).content(session, transaction, content: content(text))
    }

    /// A mixed message with a text part and one base64 attachment described by `headers`.
    static func withAttachment(_ headers: String) -> String {
        withPart(headers + "\nContent-Transfer-Encoding: base64")
    }

    /// A multipart/mixed message: a text part, then a part with `headers` and `body`.
    static func withPart(_ headers: String, _ body: String = "TVqQAAMAAAAEAAAA") -> String {
        """
        From: a@example.edu
        Subject: files
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="b1"

        --b1
        Content-Type: text/plain

        see attached
        --b1
        \(headers)

        \(body)
        --b1--
        """
    }

    static func expectRefusal(_ verdict: PolicyVerdict, _ text: String) {
        #expect(verdict.decision == .reject(SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 7, 1), text: text)))
        #expect(verdict.note == text)
    }

    @Test("a blocked extension in a nested part is refused")
    func nestedExecutable() async {
        let verdict = await Self.verdict("""
        From: a@example.edu
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary=outer

        --outer
        Content-Type: multipart/alternative; boundary=inner

        --inner
        Content-Type: text/plain

        hi
        --inner
        Content-Type: application/octet-stream
        Content-Disposition: attachment; filename="Invoice.EXE"

        MZ
        --inner--
        --outer--
        """)
        Self.expectRefusal(verdict, "Attachment \"Invoice.EXE\" refused: .exe files are not accepted")
    }

    @Test("an executable inside a forwarded message/rfc822 is refused")
    func encapsulatedMessage() async {
        let verdict = await Self.verdict(Self.withAttachment("""
        Content-Type: message/rfc822

        From: b@example.org
        Subject: inner
        Content-Type: application/octet-stream; name=setup.scr

        MZ
        """).replacingOccurrences(of: "Content-Transfer-Encoding: base64\n", with: ""))
        Self.expectRefusal(verdict, "Attachment \"setup.scr\" refused: .scr files are not accepted")
    }

    struct NameCase: Sendable, CustomTestStringConvertible {
        var headers: String
        var expected: String?
        var testDescription: String { headers }
    }

    @Test("file names in every encoding and disguise", arguments: [
        NameCase(headers: "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=UTF-8''%65vil.exe",
                 expected: "Attachment \"evil.exe\" refused: .exe files are not accepted"),
        NameCase(headers: "Content-Type: application/octet-stream; name=\"=?UTF-8?B?ZXZpbC5leGU=?=\"",
                 expected: "Attachment \"evil.exe\" refused: .exe files are not accepted"),
        NameCase(headers: "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"report.pdf.exe\"",
                 expected: "Attachment \"report.pdf.exe\" refused: .exe files are not accepted"),
        NameCase(headers: "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"evil.exe.\"",
                 expected: "Attachment \"evil.exe.\" refused: .exe files are not accepted"),
        NameCase(headers: "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"evil.exe \"",
                 expected: "Attachment \"evil.exe \" refused: .exe files are not accepted"),
        NameCase(headers: "Content-Type: text/javascript\nContent-Disposition: attachment;\n filename*0=\"lo\"; filename*1=\"ad.JS\"",
                 expected: "Attachment \"load.JS\" refused: .js files are not accepted"),
        NameCase(headers: "Content-Type: application/octet-stream; name=\"Gr=?UTF-8?Q?=C3=BC?=sse.exe\"",
                 expected: "Attachment \"Gr?sse.exe\" refused: .exe files are not accepted"),
        // A plain filename beside an RFC 2231 one: readers differ, both are tested.
        NameCase(headers: "Content-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''report.pdf; filename=\"report.exe\"",
                 expected: "Attachment \"report.exe\" refused: .exe files are not accepted"),
        NameCase(headers: "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=UTF-8''evil.exe%00.txt",
                 expected: "Attachment \"evil.exe?.txt\" refused: .exe files are not accepted"),
        NameCase(headers: "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename==?utf-8?b?ZXZpbC5leGU=?=",
                 expected: "Attachment \"evil.exe\" refused: .exe files are not accepted"),
        NameCase(headers: "Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"setup.exe.pdf\"",
                 expected: nil),
        NameCase(headers: "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"exe\"",
                 expected: nil),
    ])
    func filenames(_ test: NameCase) async {
        let verdict = await Self.verdict(Self.withAttachment(test.headers))
        if let expected = test.expected {
            Self.expectRefusal(verdict, expected)
        } else {
            #expect(verdict.decision == .continue)
        }
    }

    @Test("a name cut short by a control character is tested as a C reader sees it")
    func controlCharacterName() {
        #expect(AttachmentFilter.namesToTest("evil.exe\u{0}.txt") == ["evil.exe\u{0}.txt", "evil.exe"])
        #expect(AttachmentFilter.namesToTest("fine.txt") == ["fine.txt"])
    }

    @Test("a blocked content type is refused, named or not")
    func blockedContentType() async {
        let named = await Self.verdict(Self.withAttachment("Content-Type: Application/X-MSDownload; name=tool.bin"))
        Self.expectRefusal(named, "Attachment \"tool.bin\" refused: application/x-msdownload is not accepted")
        let unnamed = await Self.verdict(Self.withAttachment("Content-Type: application/x-msdownload"))
        Self.expectRefusal(unnamed, "Attachment in part 1.2 refused: application/x-msdownload is not accepted")
    }

    @Test("an allowed message continues")
    func allowedMessage() async {
        let verdict = await Self.verdict(Self.withAttachment(
            "Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"report.pdf\""))
        #expect(verdict.decision == .continue && verdict.note == "3 MIME part(s), none blocked")
    }

    @Test("no rules: continue without reading the content")
    func noRules() async {
        let filter = AttachmentFilter(rules: AttachmentRules())
        #expect(filter.name == "attachments")
        let missing = ReceivedContent(path: "/nonexistent/postern/spool/file", size: 10)
        #expect(await filter.content(Self.session, Self.transaction, content: missing).decision == .continue)
    }

    @Test("malformed MIME does not crash", arguments: [
        "Content-Type: multipart/mixed; boundary=\"a\"\n\n--a\nContent-Disposition: attachment; filename*0*=%ZZ; filename*1=\"\n\n--a",
        "Content-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=q\n\n--q\n--q--\n--q--",
        "\u{0}\u{1}:::\n\n\n--\n",
        "",
    ])
    func malformed(_ text: String) async {
        let verdict = await Self.verdict(text)
        #expect(verdict.decision == .continue)
    }

    @Test("parts hidden past the parser's nesting limit are refused")
    func tooDeep() async {
        var text = "Content-Type: multipart/mixed; boundary=b0\n\n"
        for level in 1...40 {
            text += "--b\(level - 1)\nContent-Type: multipart/mixed; boundary=b\(level)\n\n"
        }
        text += "--b40\nContent-Type: application/octet-stream; name=deep.exe\n\nMZ\n"
        let verdict = await Self.verdict(text)
        Self.expectRefusal(verdict, "Message refused: too many or too deeply nested MIME parts to check attachments")
    }

    @Test("the spooled file is read from its path")
    func fromFile() async throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("postern-attachment-\(UInt64.random(in: 0...UInt64.max)).eml").path
        let bytes = Self.withAttachment("Content-Type: application/octet-stream; name=x.exe")
            .replacingOccurrences(of: "\n", with: "\r\n")
        try Data(bytes.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let filter = AttachmentFilter(rules: Self.rules)
        let verdict = await filter.content(Self.session, Self.transaction,
                                           content: ReceivedContent(path: path, size: bytes.utf8.count))
        Self.expectRefusal(verdict, "Attachment \"x.exe\" refused: .exe files are not accepted")
    }

    @Test("an unreadable spool file is a temporary failure")
    func unreadable() async {
        let filter = AttachmentFilter(rules: Self.rules)
        let verdict = await filter.content(Self.session, Self.transaction,
                                           content: ReceivedContent(path: "/nonexistent/postern/spool/file", size: 10))
        #expect(verdict.decision == .tempfail(SMTPReply(code: 451, enhanced: EnhancedStatusCode(4, 3, 0),
                                                        text: "Local error while checking attachments")))
        #expect(verdict.note?.contains("/nonexistent/postern/spool/file") == true)
    }
}
