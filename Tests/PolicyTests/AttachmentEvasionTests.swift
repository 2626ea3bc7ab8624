import Foundation
import MailMessage
import SMTPCore
import Testing
@testable import Policy

/// Issue #10 item 6: every way found to slip a blocked file past
/// `[attachments]` that a mail reader would still show as an attachment.
/// Each case passed the filter before the reader-equivalent readings were
/// added; each is now refused, by name or as an ambiguous structure.
@Suite("Attachment filter: evasions")
struct AttachmentEvasionTests {
    struct Evasion: Sendable, CustomTestStringConvertible {
        var name: String
        var message: String
        /// The reply text, or nil when the message must pass.
        var refusal: String?
        var testDescription: String { name }
    }

    static func blocked(_ label: String) -> String {
        "Attachment \"\(label)\" refused: .exe files are not accepted"
    }

    static func ambiguous(_ what: String) -> String {
        "Ambiguous MIME structure: \(what)"
    }

    static func mixed(_ headers: String, _ body: String = "TVqQAAMAAAAEAAAA") -> String {
        AttachmentFilterTests.withPart(headers, body)
    }

    static func base64(_ text: String) -> String {
        Data(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
            .base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
    }

    /// A forwarded message whose attachment is `filename`.
    static func inner(_ filename: String = "evil.exe") -> String {
        """
        From: b@example.org
        Subject: inner
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary=in

        --in
        Content-Type: text/plain

        hi
        --in
        Content-Type: application/octet-stream
        Content-Disposition: attachment; filename="\(filename)"
        Content-Transfer-Encoding: base64

        TVqQAAMAAAAEAAAA
        --in--
        """
    }

    static let uuencoded = "begin 644 evil.exe\nM35J0``,````$````__\\``+@`````````0```````````````````````````\n`\nend"

    /// winmail.dat (MS-OXTNEF) with attAttachTitle "evil.exe".
    static let tnefTitle = """
        eJ8+IgAAAQaQCAAEAAAAAAABAAEAAgKQBgAOAAAAAQD/////AAAAAAAAAAD9AwIQgAEACQAAAGV2aWwuZXhlACADAg+ABgAgAAAATVqQAE1akABNWpAATVqQAE1akABNWpAATVqQAE1akAC4CQ==
        """
    /// attAttachTitle "README.TXT", PR_ATTACH_LONG_FILENAME "invoice.exe" in attAttachment.
    static let tnefLongName = """
        eJ8+IgAAAQaQCAAEAAAAAAABAAEAAgKQBgAOAAAAAQD/////AAAAAAAAAAD9AwIQgAEACwAAAFJFQURNRS5UWFQA3AICD4AGACAAAABNWpAATVqQAE1akABNWpAATVqQAE1akABNWpAATVqQALgJAgWQBgAwAAAAAgAAAAMAIQ4AAAAAHwAHNwEAAAAYAAAAaQBuAHYAbwBpAGMAZQAuAGUAeABlAAAABwU=
        """
    /// Both names "notes.txt".
    static let tnefHarmless = """
        eJ8+IgAAAQaQCAAEAAAAAAABAAEAAgKQBgAOAAAAAQD/////AAAAAAAAAAD9AwIQgAEACgAAAG5vdGVzLnR4dAC3AwIPgAYAIAAAAE1akABNWpAATVqQAE1akABNWpAATVqQAE1akABNWpAAuAkCBZAGACwAAAACAAAAAwAhDgAAAAAfAAc3AQAAABQAAABuAG8AdABlAHMALgB0AHgAdAAAAF0E
        """

    static let manyParameters = (0..<70).map { "x\($0)=1" }.joined(separator: "; ")
    static let manySections = (0..<80).map { "filename*\($0)=\"\($0 == 79 ? ".exe" : "aaaaaaaaaa")\"" }
        .joined(separator: ";\n ")
    static let longName = String(repeating: "a", count: 3000) + ".exe." + String(repeating: "b", count: 40) + ".txt"

    static let evasions: [Evasion] = [
        // 1. message/rfc822 with a transfer encoding (RFC 2046 §5.2.1 forbids it; readers decode it).
        Evasion(name: "base64 message/rfc822",
                message: mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64", base64(inner())),
                refusal: blocked("evil.exe")),
        Evasion(name: "quoted-printable message/rfc822",
                message: mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable",
                               inner("ev=\nil.exe").replacingOccurrences(of: "filename=", with: "filename=3D")),
                refusal: blocked("evil.exe")),
        Evasion(name: "base64 message/rfc822 inside a base64 message/rfc822",
                message: mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64",
                               base64("From: c@example.org\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
                                      + base64(inner()))),
                refusal: blocked("evil.exe")),
        // 2. Ambiguous header fields and parameters.
        Evasion(name: "second Content-Disposition field",
                message: mixed("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=notes.txt\n"
                               + "Content-Disposition: attachment; filename=evil.exe"),
                refusal: blocked("evil.exe")),
        Evasion(name: "second Content-Type field",
                message: mixed("Content-Type: text/plain; name=notes.txt\nContent-Type: application/octet-stream; name=evil.exe"),
                refusal: ambiguous("Content-Type given twice with different values in part 1.2")),
        Evasion(name: "second Content-Transfer-Encoding field",
                message: mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64",
                               base64(inner())),
                refusal: ambiguous("Content-Transfer-Encoding given twice with different values in part 1.2")),
        Evasion(name: "RFC 2231 section given twice",
                message: mixed("Content-Type: application/octet-stream\n"
                               + "Content-Disposition: attachment; filename*0=\"notes.txt\"; filename*0=\"evil.exe\""),
                refusal: blocked("evil.exe")),
        Evasion(name: "RFC 2231 sections with a gap",
                message: mixed("Content-Type: application/octet-stream\n"
                               + "Content-Disposition: attachment; filename*0=\"evil\"; filename*1=\".exe\"; filename*3=\".txt\""),
                refusal: blocked("evil.exe")),
        Evasion(name: "filename on Content-Type",
                message: mixed("Content-Type: application/octet-stream; filename=\"evil.exe\"\nContent-Disposition: attachment"),
                refusal: blocked("evil.exe")),
        Evasion(name: "name on Content-Disposition",
                message: mixed("Content-Type: application/octet-stream\nContent-Disposition: attachment; name=\"evil.exe\""),
                refusal: blocked("evil.exe")),
        Evasion(name: "boundary given twice",
                message: "Content-Type: multipart/mixed; boundary=\"a\"; boundary=\"b\"\n\n--b\n"
                    + "Content-Type: application/octet-stream; name=evil.exe\n\nMZ\n--b--\n",
                refusal: ambiguous("conflicting values for parameter \"boundary\" in part 1")),
        Evasion(name: "filename after more parameters than are kept",
                message: mixed("Content-Type: application/octet-stream\nContent-Disposition: attachment; \(manyParameters);\n"
                               + " filename=evil.exe"),
                refusal: ambiguous("more parameters than are checked in part 1.2")),
        // 3. A multipart the parser cannot split as a reader might.
        Evasion(name: "multipart without boundary",
                message: "Content-Type: multipart/mixed\n\n--x\nContent-Type: application/octet-stream; name=evil.exe\n\nMZ\n--x--\n",
                refusal: ambiguous("multipart without boundary parameter in part 1")),
        Evasion(name: "base64 multipart",
                message: mixed("Content-Type: multipart/mixed; boundary=in\nContent-Transfer-Encoding: base64",
                               base64("--in\nContent-Type: application/octet-stream; name=evil.exe\n\nMZ\n--in--\n")),
                refusal: ambiguous("container with transfer encoding \"base64\" in part 1.2")),
        // 4. uuencode (shown as an attachment by Outlook and Thunderbird).
        Evasion(name: "uuencoded file in a text part",
                message: mixed("Content-Type: text/plain", "see below\n\n\(uuencoded)\n"),
                refusal: blocked("evil.exe")),
        Evasion(name: "uuencoded file in a message without MIME",
                message: "From: a@example.edu\nSubject: old style\n\nhere it is\n\(uuencoded)\n",
                refusal: blocked("evil.exe")),
        Evasion(name: "uuencoded file in quoted-printable text",
                message: mixed("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable",
                               "see below\n\nbegin 644 ev=\nil.exe\n`\nend\n"),
                refusal: blocked("evil.exe")),
        Evasion(name: "x-uuencode transfer encoding",
                message: mixed("Content-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode", uuencoded),
                refusal: blocked("evil.exe")),
        // 5. TNEF (winmail.dat).
        Evasion(name: "TNEF attAttachTitle",
                message: mixed("Content-Type: application/ms-tnef; name=winmail.dat\nContent-Transfer-Encoding: base64", tnefTitle),
                refusal: blocked("evil.exe")),
        Evasion(name: "TNEF PR_ATTACH_LONG_FILENAME",
                message: mixed("Content-Type: application/vnd.ms-tnef\nContent-Disposition: attachment; filename=winmail.dat\n"
                               + "Content-Transfer-Encoding: base64", tnefLongName),
                refusal: blocked("invoice.exe")),
        // 6. Names.
        // Sections count as parameters, so the parameter limit is met first.
        Evasion(name: "a name of more RFC 2231 sections than are kept",
                message: mixed("Content-Type: application/octet-stream\nContent-Disposition: attachment;\n \(manySections)"),
                refusal: ambiguous("more parameters than are checked in part 1.2")),
        Evasion(name: "a name of thousands of characters a reader shortens",
                message: mixed("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"\(longName)\""),
                refusal: blocked(String(repeating: "a", count: 80) + "...")),
        Evasion(name: "bidi override inside the extension",
                message: mixed("Content-Type: application/octet-stream\n"
                               + "Content-Disposition: attachment; filename*=utf-8''evil.e%E2%80%AExe"),
                refusal: blocked("evil.e?xe")),
        Evasion(name: "zero-width space inside the extension",
                message: mixed("Content-Type: application/octet-stream; name=\"=?utf-8?q?evil=2Ee=E2=80=8Bxe?=\""),
                refusal: blocked("evil.e?xe")),
    ]

    /// Lookalikes that a reader shows as harmless: they still pass.
    static let harmless: [Evasion] = [
        Evasion(name: "base64 message/rfc822 with a PDF",
                message: mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64", base64(inner("report.pdf")))),
        Evasion(name: "the same Content-Type field twice",
                message: mixed("Content-Type: application/pdf; name=a.pdf\nContent-Type: application/pdf; name=a.pdf")),
        Evasion(name: "prose that starts like uuencode",
                message: mixed("Content-Type: text/plain", "begin 644 notes.txt\nbegin at 9 with evil.exe\n")),
        Evasion(name: "TNEF with a text file",
                message: mixed("Content-Type: application/ms-tnef; name=winmail.dat\nContent-Transfer-Encoding: base64", tnefHarmless)),
        Evasion(name: "RFC 2231 sections in order",
                message: mixed("Content-Type: application/pdf\nContent-Disposition: attachment; filename*0=\"evil.exe\"; filename*1=\".pdf\"")),
    ]

    @Test("each evasion is refused", arguments: evasions)
    func evasion(_ test: Evasion) async {
        let verdict = await AttachmentFilterTests.verdict(test.message)
        AttachmentFilterTests.expectRefusal(verdict, test.refusal ?? "")
    }

    @Test("harmless lookalikes pass", arguments: harmless)
    func lookalike(_ test: Evasion) async {
        let verdict = await AttachmentFilterTests.verdict(test.message)
        #expect(verdict.decision == .continue, "\(Fixture.describe(verdict))")
    }
}
