import Foundation
import Testing
@testable import MailMessage

/// What the parser does so that every reading a mail reader could take is
/// visible: transfer-encoded messages decoded, repeated fields kept apart,
/// dropped parameters recorded, names from every field.
@Suite("MIME parser: readers' readings")
struct MIMEReadingsTests {
    static func base64(_ text: String) -> String {
        Data(messageBytes(text)).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
    }

    static let inner = "Subject: inner\nContent-Type: multipart/mixed; boundary=i\n\n--i\nContent-Type: text/plain\n\nhi\n"
        + "--i\nContent-Type: application/octet-stream; name=a.exe\n\nMZ\n--i--\n"

    static func forwarded(_ encoding: String, _ body: String) -> [UInt8] {
        messageBytes("Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n"
                     + "Content-Transfer-Encoding: \(encoding)\n\n\(body)\n--o--\n")
    }

    @Test("a base64 message/rfc822 is parsed as the message it decodes to")
    func base64Message() throws {
        let message = MIMEParser.parse(Self.forwarded("base64", Self.base64(Self.inner)))
        let part = try #require(message.root.part(at: [1, 1]))
        #expect(part.shape == "message/rfc822[multipart/mixed[text/plain,application/octet-stream]]")
        #expect(part.defectSummary == ["1.1:container with transfer encoding \"base64\""])
        #expect(message.root.part(at: [1, 1, 1, 2])?.filename == "a.exe")
        #expect(message.parts.map(\.pathString) == ["1", "1.1", "1.1.1", "1.1.1.1", "1.1.1.2"])
        #expect(part.encapsulatedMessage?.headers.first("Subject")?.value == "inner")
        // Fed byte by byte, the same tree.
        var parser = MIMEParser()
        for byte in Self.forwarded("base64", Self.base64(Self.inner)) { parser.feed([byte]) }
        #expect(parser.finish() == message)
    }

    @Test("quoted-printable too, and an unknown encoding stays a leaf")
    func otherEncodings() {
        let qp = MIMEParser.parse(Self.forwarded("quoted-printable", "Content-Type: text/plain; name=3D\"q.e=\nxe\"\n\nx"))
        #expect(qp.root.part(at: [1, 1, 1])?.filename == "q.exe")
        let unknown = MIMEParser.parse(Self.forwarded("x-foo", Self.inner))
        #expect(unknown.root.part(at: [1, 1])?.children.isEmpty == true)
    }

    @Test("encoded messages inside encoded messages stop at maxEncodedMessageDepth")
    func encodedDepth() {
        var limits = MIMELimits()
        limits.maxEncodedMessageDepth = 2
        var body = Self.inner
        for _ in 0..<3 {
            body = "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + Self.base64(body)
        }
        let message = MIMEParser.parse(messageBytes(body), limits: limits)
        #expect(message.root.defectSummary.contains("1.1.1:nesting too deep, not parsed further"))
        #expect(message.root.depth == 3)
    }

    @Test("decoded parts count against maxParts")
    func decodedParts() {
        var limits = MIMELimits()
        limits.maxParts = 4
        let message = MIMEParser.parse(Self.forwarded("base64", Self.base64(Self.inner)), limits: limits)
        #expect(message.parts.count <= 4)
        #expect(message.root.defectSummary.contains { $0.hasSuffix("too many parts, rest skipped") })
    }

    @Test("repeated fields: conflicting only when the values differ", arguments: [
        ("Content-Type: text/plain\nContent-Type: text/plain", ["1:field Content-Type given more than once"]),
        ("Content-Type: text/plain\nContent-Type: text/html",
         ["1:field Content-Type given more than once", "1:Content-Type given twice with different values"]),
        ("Content-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64",
         ["1:field Content-Transfer-Encoding given more than once",
          "1:Content-Transfer-Encoding given twice with different values"]),
        ("Content-Disposition: inline\nContent-Disposition: attachment", ["1:field Content-Disposition given more than once"]),
    ] as [(String, [String])])
    func repeatedFields(_ headers: String, _ defects: [String]) {
        #expect(MIMEParser.parse(messageBytes(headers + "\n\nbody")).root.defectSummary == defects)
    }

    @Test("parameters past the limits are recorded on the part")
    func overflow() {
        var limits = MIMELimits()
        limits.maxParameters = 3
        limits.maxParameterSections = 2
        let message = MIMEParser.parse(messageBytes("""
            Content-Type: application/octet-stream; a=1; b=2; c=3; name=x.exe
            Content-Disposition: attachment; filename*0=a; filename*1=b; filename*2=.exe

            MZ
            """), limits: limits)
        #expect(message.root.defectSummary == ["1:more parameters than are checked",
                                               "1:more sections of parameter \"filename\" than are checked"])
    }

    @Test("file name candidates come from every field and both parameters")
    func candidates() {
        let message = MIMEParser.parse(messageBytes("""
            Content-Type: application/octet-stream; filename=ct-filename.exe; name=ct-name.exe
            Content-Disposition: attachment; name=cd-name.exe
            Content-Disposition: attachment; filename=second.exe
            Content-Type: text/plain; name=second-type.exe

            MZ
            """))
        #expect(message.root.filenameCandidates == ["cd-name.exe", "ct-filename.exe", "ct-name.exe", "second.exe",
                                                    "second-type.exe"])
    }
}
