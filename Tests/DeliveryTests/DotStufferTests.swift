import NIOCore
import Testing
@testable import Delivery

@Suite("Dot-stuffing")
struct DotStufferTests {
    static let cases: [(String, String)] = [
        ("", ".\r\n"),
        ("a\r\n", "a\r\n.\r\n"),
        ("abc", "abc\r\n.\r\n"),
        (".", "..\r\n.\r\n"),
        (".\r\n", "..\r\n.\r\n"),
        ("a\r\n.b\r\n", "a\r\n..b\r\n.\r\n"),
        ("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"),
        ("..two\r\n", "...two\r\n.\r\n"),
        ("a.b\r\n. \r\n", "a.b\r\n.. \r\n.\r\n"),
        ("\r\n\r\n", "\r\n\r\n.\r\n"),
        // Bare line ends become CRLF, so nothing can hide an end of data (SMTP smuggling).
        ("a\n.b", "a\r\n..b\r\n.\r\n"),
        ("a\rb", "a\r\nb\r\n.\r\n"),
        ("a\r\n.\n.\r\n", "a\r\n..\r\n..\r\n.\r\n"),
        ("x\r", "x\r\n.\r\n"),
        ("\r\r\n", "\r\n\r\n.\r\n"),
    ]

    @Test("whole content", arguments: cases)
    func whole(_ input: String, _ expected: String) {
        #expect(String(buffer: DotStuffer.stuffed(ByteBuffer(string: input))) == expected)
    }

    @Test("every split into two chunks gives the same stream", arguments: cases)
    func chunkBorders(_ input: String, _ expected: String) {
        let bytes = Array(input.utf8)
        for split in 0...bytes.count {
            var stuffer = DotStuffer()
            var output = ByteBuffer()
            stuffer.stuff(ByteBuffer(bytes: bytes[..<split]), into: &output)
            stuffer.stuff(ByteBuffer(bytes: bytes[split...]), into: &output)
            stuffer.finish(into: &output)
            #expect(String(buffer: output) == expected, "split at \(split)")
        }
    }

    @Test func byteByByte() {
        let body = "Subject: x\r\n\r\n.one\r\n..two\r\nthree.\r\n.\r\nend"
        var stuffer = DotStuffer()
        var output = ByteBuffer()
        for byte in body.utf8 { stuffer.stuff(ByteBuffer(bytes: [byte]), into: &output) }
        stuffer.finish(into: &output)
        #expect(String(buffer: output) == "Subject: x\r\n\r\n..one\r\n...two\r\nthree.\r\n..\r\nend\r\n.\r\n")
    }

    @Test func unstuffingGivesTheContentBack() {
        // What a server does (RFC 5321 §4.5.2) must give back the CRLF content exactly.
        var content = ""
        for line in 0..<500 { content += (line % 3 == 0 ? "." : "") + String(repeating: "x", count: line % 7) + "\r\n" }
        let stream = String(buffer: DotStuffer.stuffed(ByteBuffer(string: content)))
        var lines = stream.components(separatedBy: "\r\n")
        #expect(lines.removeLast() == "")
        #expect(lines.removeLast() == ".")
        let unstuffed = lines.map { $0.hasPrefix(".") ? String($0.dropFirst()) : $0 }.map { $0 + "\r\n" }.joined()
        #expect(unstuffed == content)
    }
}
