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
        for split in 0...input.utf8.count {
            #expect(Self.stuffedInTwoChunks(input, split: split) == expected, "split at \(split)")
        }
    }

    static func stuffedInTwoChunks(_ input: String, split: Int, maxLineLength: Int = DotStuffer.defaultMaxLineLength) -> String {
        let bytes = Array(input.utf8)
        var stuffer = DotStuffer(maxLineLength: maxLineLength)
        var output = ByteBuffer()
        stuffer.stuff(ByteBuffer(bytes: bytes[..<split]), into: &output)
        stuffer.stuff(ByteBuffer(bytes: bytes[split...]), into: &output)
        stuffer.finish(into: &output)
        return String(buffer: output)
    }

    /// Random content of line ends, dots and letters, cut at a random
    /// point, against a line-by-line reference: the run-copying stuffer
    /// must give the same stream for every input and chunk border.
    @Test func matchesTheReferenceOnRandomContent() {
        var state: UInt64 = 15
        func random(_ below: Int) -> Int { // Knuth's MMIX LCG: fixed inputs, every run
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(below))
        }
        let alphabet = Array("\r\n.ab".utf8)
        for _ in 0..<5000 {
            let length = random(40)
            let input = (0..<length).map { _ in alphabet[random(alphabet.count)] }
            let split = random(length + 1)
            let max = 2 + random(6)
            let text = String(decoding: input, as: UTF8.self)
            #expect(Self.stuffedInTwoChunks(text, split: split, maxLineLength: max) == Self.reference(input, max: max),
                    "\(input) split at \(split), limit \(max)")
        }
    }

    /// RFC 5321 §4.5.2 one line at a time: CRLF, bare CR and bare LF each end
    /// a line; a line starting with "." gets another; lines past `max`
    /// octets are broken with CRLF SP; the end is CRLF "." CRLF.
    static func reference(_ input: [UInt8], max: Int) -> String {
        var lines: [[UInt8]] = [], line: [UInt8] = [], index = 0
        while index < input.count {
            switch input[index] {
            case 13:
                lines.append(line); line = []
                if index + 1 < input.count, input[index + 1] == 10 { index += 1 }
            case 10:
                lines.append(line); line = []
            default:
                line.append(input[index])
            }
            index += 1
        }
        if !line.isEmpty { lines.append(line) }
        var out: [UInt8] = []
        for line in lines {
            if line.first == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
            var count = 0
            for octet in line {
                if count == max { out += Array("\r\n ".utf8); count = 1 }
                out.append(octet)
                count += 1
            }
            out += [13, 10]
        }
        return String(decoding: out + Array(".\r\n".utf8), as: UTF8.self)
    }

    /// Line breaking with a limit of 5 octets, so the cases stay readable.
    static let longLines: [(String, String)] = [
        ("12345\r\n", "12345\r\n.\r\n"),
        ("123456\r\n", "12345\r\n 6\r\n.\r\n"),
        ("1234567890ABCDEFG", "12345\r\n 6789\r\n 0ABC\r\n DEFG\r\n.\r\n"),
        ("1234567890AB\r\n", "12345\r\n 6789\r\n 0AB\r\n.\r\n"),
        // The stuffed dot is not counted (RFC 5321 §4.5.3.1.6); a piece never starts with ".".
        (".2345\r\n", "..2345\r\n.\r\n"),
        (".23456\r\n", "..2345\r\n 6\r\n.\r\n"),
        ("12345.\r\n.\r\n", "12345\r\n .\r\n..\r\n.\r\n"),
        ("12345--boundary\r\n", "12345\r\n --bo\r\n unda\r\n ry\r\n.\r\n"),
        // Bare line ends still end a line, and reset the count.
        ("1234\n12345\r123456", "1234\r\n12345\r\n12345\r\n 6\r\n.\r\n"),
        ("123456\r", "12345\r\n 6\r\n.\r\n"),
    ]

    @Test("long lines are broken with CRLF SP", arguments: longLines)
    func longLine(_ input: String, _ expected: String) {
        #expect(String(buffer: DotStuffer.stuffed(ByteBuffer(string: input), maxLineLength: 5)) == expected)
    }

    @Test("long lines: every split into two chunks gives the same stream", arguments: longLines)
    func longLineChunkBorders(_ input: String, _ expected: String) {
        for split in 0...input.utf8.count {
            #expect(Self.stuffedInTwoChunks(input, split: split, maxLineLength: 5) == expected, "split at \(split)")
        }
    }

    /// RFC 5322 §2.1.1: 998 octets pass untouched, 999 are broken once.
    @Test(arguments: [(998, 0), (999, 1), (1995, 1), (1996, 2), (3000, 3), (0, 0), (1, 0)])
    func realLimit(length: Int, breaks: Int) {
        let line = String(repeating: "x", count: length)
        let stream = String(buffer: DotStuffer.stuffed(ByteBuffer(string: "Subject: t\r\n\r\n" + line + "\r\nend\r\n")))
        let lines = stream.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
        #expect(stream.components(separatedBy: "\r\n ").count - 1 == breaks)
        #expect(stream.replacingOccurrences(of: "\r\n ", with: "") == "Subject: t\r\n\r\n" + line + "\r\nend\r\n.\r\n")
    }

    @Test func longLineAcrossManyChunks() {
        // 3,000 octets fed in 7-octet chunks, so the breaks fall inside chunks and on their borders.
        let content = Array(("a" + String(repeating: "0123456789", count: 300) + "\r\nb\r\n").utf8)
        var stuffer = DotStuffer()
        var output = ByteBuffer()
        for start in stride(from: 0, to: content.count, by: 7) {
            stuffer.stuff(ByteBuffer(bytes: content[start..<min(start + 7, content.count)]), into: &output)
        }
        stuffer.finish(into: &output)
        let whole = DotStuffer.stuffed(ByteBuffer(bytes: content))
        #expect(output == whole)
        let lines = String(buffer: whole).components(separatedBy: "\r\n")
        #expect(lines.map(\.utf8.count) == [998, 998, 998, 10, 1, 1, 0])
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

    /// A chunk that needs no change comes back as a view of the same
    /// storage (no copy on the way to the socket); one that does is rebuilt.
    @Test func cleanChunkIsNotCopied() {
        let clean = ByteBuffer(string: "Subject: x\r\n\r\nline one.\r\nline two\r\n")
        var stuffer = DotStuffer()
        let out = stuffer.stuff(clean)
        #expect(out == clean)
        let sameStorage = out.withUnsafeReadableBytes { a in clean.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress } }
        #expect(sameStorage)
        let dotted = ByteBuffer(string: ".x\r\ny\r\n")
        let stuffed = stuffer.stuff(dotted)
        #expect(String(buffer: stuffed) == "..x\r\ny\r\n")
        #expect(stuffed.withUnsafeReadableBytes { a in dotted.withUnsafeReadableBytes { b in a.baseAddress != b.baseAddress } })
        // A chunk that ends in CR is held back until the next one: not as it is.
        #expect(String(buffer: stuffer.stuff(ByteBuffer(string: "z\r"))) == "z")
        #expect(String(buffer: stuffer.stuff(ByteBuffer(string: "\n.w\r\n"))) == "\r\n..w\r\n")
    }
}
