// Message text as the SIMD plain-line scan (CTextScan, in each instruction
// set the machine has) and the three scanners built on it see it: DATA
// framing, the server's text check and dot-stuffing. Differential: each scanner fed the whole input must agree
// with itself fed the same input cut into pieces (first byte = piece size)
// and octet by octet, where no whole line ever reaches the SIMD run; the
// run itself must agree with its line-by-line definition; and a text the
// check calls plain must come out of dot-stuffing unchanged.
import Delivery
import NIOCore
@testable import SMTPCore

enum TextTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let piece = Int(first) + 1
        let text = UnsafeRawBufferPointer(rebasing: bytes[1...])
        let maxLine = [998, Int.max, 0, 1, 16, 40, 77, 200][Int(first) % 8]
        plainRun(text, maxLine: maxLine, dotEnds: first & 0x80 != 0)
        textCheck(text, piece: piece, bdat: first & 1 == 1)
        stuffing(text, piece: piece, maxLine: max(2, maxLine == .max ? 998 : maxLine))
        framing(text, piece: piece)
    }

    /// LineEndSearch.plainLines against a plain loop over the definition.
    static func plainRun(_ text: UnsafeRawBufferPointer, maxLine: Int, dotEnds: Bool) {
        var start = 0, expectedLongest = 0
        lines: while start < text.count {
            if dotEnds && text[start] == UInt8(ascii: ".") { break }
            var index = start
            while index < text.count, text[index] != 13, text[index] != 10, text[index] != 0 { index += 1 }
            guard index + 1 < text.count, text[index] == 13, text[index + 1] == 10, index - start <= maxLine else { break lines }
            expectedLongest = max(expectedLongest, index - start)
            start = index + 2
        }
        // Every instruction set the machine has: AVX2, SSE2, plain C.
        for level in 0...LineEndSearch.scanLevel {
            var longest = 0
            let end = LineEndSearch.plainLines(in: text, from: 0, to: text.count, maxLineLength: maxLine, dotEnds: dotEnds,
                                               instructionSet: level, longest: &longest)
            invariant(end == start, "plain run (level \(level)) ends at \(end), the definition at \(start)")
            invariant(longest == expectedLongest,
                      "plain run's (level \(level)) longest line \(longest), the definition's \(expectedLongest)")
        }
    }

    static func textCheck(_ text: UnsafeRawBufferPointer, piece: Int, bdat: Bool) {
        var whole = MessageTextCheck(checksLineEndings: bdat)
        whole.scan(text)
        var pieces = MessageTextCheck(checksLineEndings: bdat)
        var octets = MessageTextCheck(checksLineEndings: bdat)
        var start = 0
        while start < text.count {
            let end = min(text.count, start + piece)
            pieces.scan(UnsafeRawBufferPointer(rebasing: text[start..<end]))
            start = end
        }
        for index in 0..<text.count { octets.scan(UnsafeRawBufferPointer(rebasing: text[index..<(index + 1)])) }
        invariant(whole == pieces, "text check differs when the text is cut in pieces of \(piece)")
        invariant(whole == octets, "text check differs when the text comes octet by octet")
        if whole.isPlain {
            // What the first delivery relies on when it skips dot-stuffing.
            let content = ByteBuffer(bytes: text)
            var expected = content
            expected.writeStaticString(".\r\n")
            invariant(DotStuffer.stuffed(content) == expected, "a text called plain changed when dot-stuffed")
        }
    }

    static func stuffing(_ text: UnsafeRawBufferPointer, piece: Int, maxLine: Int) {
        let content = ByteBuffer(bytes: text)
        let whole = DotStuffer.stuffed(content, maxLineLength: maxLine)
        var stuffer = DotStuffer(maxLineLength: maxLine)
        var output = ByteBuffer()
        var rest = content
        while let chunk = rest.readSlice(length: min(piece, rest.readableBytes)), chunk.readableBytes > 0 {
            stuffer.stuff(chunk, into: &output)
        }
        stuffer.finish(into: &output)
        invariant(whole == output, "dot-stuffing differs when the content is cut in pieces of \(piece)")
    }

    /// DATA content and its end, whole against octet by octet; the runs it
    /// calls plain are, and the text check that skips them agrees with one
    /// that reads everything.
    static func framing(_ text: UnsafeRawBufferPointer, piece: Int) {
        func frames(step: Int) -> [[UInt8]] {
            var decoder = SMTPFrameDecoder()
            decoder.beginData()
            var buffer = ByteBuffer()
            var out: [[UInt8]] = []
            var content: [UInt8] = []
            var check = MessageTextCheck(checksLineEndings: false)
            var start = 0
            feeding: while start < text.count {
                let end = min(text.count, start + step)
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: text[start..<end]))
                start = end
                while let frame = decoder.next(&buffer) {
                    switch frame {
                    case .dataContent(let slice):
                        if let longest = decoder.plainContentLongest {
                            // What the text check then takes on trust.
                            var found = 0
                            let plainEnd = slice.withUnsafeReadableBytes {
                                LineEndSearch.plainLines(in: $0, from: 0, to: $0.count, maxLineLength: 998, longest: &found)
                            }
                            invariant(plainEnd == slice.readableBytes && found == longest,
                                      "framing called a run plain that is not, or got its longest line wrong")
                            slice.withUnsafeReadableBytes { check.scanPlain($0, longest: longest) }
                        } else {
                            slice.withUnsafeReadableBytes { check.scan($0) }
                        }
                        content += slice.readableBytesView
                    case .dataEnd:
                        var whole = MessageTextCheck(checksLineEndings: false)
                        content.withUnsafeBytes { whole.scan($0) }
                        invariant(check == whole, "text check fed by the framing's plain runs differs from one pass")
                        out.append(content + Array("|end".utf8))
                        break feeding
                    case .dataBareLineEnding:
                        // The message is refused: how much content came before depends on the reads.
                        out.append(Array("|bare".utf8))
                        break feeding
                    default: break
                    }
                }
            }
            if out.isEmpty { out.append(content) }
            return out
        }
        let whole = frames(step: text.count)
        invariant(whole == frames(step: 1), "DATA framing differs octet by octet")
        invariant(whole == frames(step: piece), "DATA framing differs in pieces of \(piece)")
    }
}
