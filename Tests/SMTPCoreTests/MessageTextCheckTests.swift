import Testing
@testable import SMTPCore

@Suite("Message text check: NUL, long lines, bare line endings")
struct MessageTextCheckTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var chunks: [[UInt8]]
        var bdat = false
        var longest: Int
        var nul = false
        var bare = false
        var testDescription: String { name }
    }

    static func line(_ count: Int) -> [UInt8] { [UInt8](repeating: UInt8(ascii: "a"), count: count) }
    static let crlf: [UInt8] = [13, 10]

    static let cases: [Case] = [
        Case(name: "empty", chunks: [], longest: 0),
        Case(name: "short lines", chunks: [Array("ab\r\ncde\r\n\r\n".utf8)], longest: 3),
        Case(name: "998 octets is allowed", chunks: [line(998) + crlf], longest: 998),
        Case(name: "999 octets is too long", chunks: [line(999) + crlf], longest: 999),
        Case(name: "CR and LF in separate chunks", chunks: [line(998) + [13], [10] + line(3) + crlf], longest: 998),
        Case(name: "a long line across three chunks", chunks: [line(500), line(400), line(100) + crlf], longest: 1000),
        Case(name: "unterminated last line counts", chunks: [Array("x\r\n".utf8) + line(1200)], longest: 1200),
        Case(name: "NUL in the body", chunks: [Array("a\r\n\r\nb\u{0}c\r\n".utf8)], longest: 3, nul: true),
        Case(name: "NUL alone in a later chunk", chunks: [Array("a\r\n".utf8), [0]], longest: 1, nul: true),
        Case(name: "DATA does not look for bare LF", chunks: [Array("a\nb\r\n".utf8)], longest: 1),
        Case(name: "BDAT bare LF", chunks: [Array("a\nb\r\n".utf8)], bdat: true, longest: 1, bare: true),
        Case(name: "BDAT bare CR", chunks: [Array("a\rb\r\n".utf8)], bdat: true, longest: 3, bare: true),
        Case(name: "BDAT CR at a chunk end, then not LF", chunks: [Array("a\r".utf8), Array("b\r\n".utf8)], bdat: true,
             longest: 3, bare: true),
        Case(name: "BDAT CRLF split across chunks", chunks: [Array("a\r".utf8), Array("\nb\r\n".utf8)], bdat: true, longest: 1),
        Case(name: "BDAT LF at chunk start after CR", chunks: [Array("abc\r".utf8), [10]], bdat: true, longest: 3),
    ]

    @Test(arguments: cases)
    func scan(_ c: Case) {
        var check = MessageTextCheck(checksLineEndings: c.bdat)
        for chunk in c.chunks { chunk.withUnsafeBytes { check.scan($0) } }
        #expect(check.longestLine == c.longest)
        #expect(check.hasLongLine == (c.longest > 998))
        #expect(check.sawNUL == c.nul)
        #expect(check.sawBareLineEnding == c.bare)
    }

    @Test func byteByByteMatchesWhole() {
        let text = Array("Subject: x\r\n\r\n".utf8) + Self.line(1500) + Self.crlf + Array("end\r\n".utf8)
        var whole = MessageTextCheck(checksLineEndings: true)
        text.withUnsafeBytes { whole.scan($0) }
        var drip = MessageTextCheck(checksLineEndings: true)
        for byte in text { [byte].withUnsafeBytes { drip.scan($0) } }
        #expect(whole == drip)
        #expect(whole.longestLine == 1500 && whole.endsCleanly)
    }
}
