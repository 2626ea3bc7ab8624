import NIOCore
import Testing
@testable import SMTPCore

/// The SIMD run of plain lines (CTextScan) and the three scanners that skip
/// with it, each against its own octet-by-octet path on random text: long
/// enough to fill the 16-octet vectors, with CR, LF, NUL and dots in it.
@Suite("Plain line runs")
struct PlainLinesTests {
    /// Knuth's MMIX LCG: the same inputs every run.
    struct Random {
        var state: UInt64
        mutating func below(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }

        /// Mostly letters, with line ends (some bare), dots, NULs and other controls.
        mutating func text(upTo length: Int) -> [UInt8] {
            let count = below(length + 1)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(count + 1)
            while bytes.count < count {
                switch below(42) {
                case 0: bytes.append(13)
                case 1: bytes.append(10)
                case 2: bytes.append(0)
                case 40: bytes.append(9) // TAB, VT: low octets that are plain
                case 41: bytes.append(UInt8(1 + below(12)))
                case 3...5: bytes.append(UInt8(ascii: "."))
                case 6...9: bytes += [13, 10]
                default: bytes.append(UInt8(ascii: "a") + UInt8(below(26)))
                }
            }
            return bytes
        }
    }

    /// The definition, line by line.
    static func reference(_ bytes: [UInt8], max: Int, dotEnds: Bool) -> (end: Int, longest: Int) {
        var start = 0, longest = 0
        while start < bytes.count {
            if dotEnds && bytes[start] == UInt8(ascii: ".") { break }
            guard let end = bytes[start...].firstIndex(where: { $0 == 13 || $0 == 10 || $0 == 0 }),
                  end + 1 < bytes.count, bytes[end] == 13, bytes[end + 1] == 10, end - start <= max else { break }
            longest = Swift.max(longest, end - start)
            start = end + 2
        }
        return (start, longest)
    }

    @Test func matchesTheDefinition() {
        var random = Random(state: 7)
        for round in 0..<4000 {
            let bytes = random.text(upTo: 300)
            let max = [0, 1, 5, 16, 40, 998, Int.max][round % 7]
            let dotEnds = round % 2 == 0
            let expected = Self.reference(bytes, max: max, dotEnds: dotEnds)
            // Every instruction set this machine has, down to plain C.
            for level in 0...LineEndSearch.scanLevel {
                var longest = 0
                let end = bytes.withUnsafeBytes {
                    LineEndSearch.plainLines(in: $0, from: 0, to: $0.count, maxLineLength: max, dotEnds: dotEnds,
                                             instructionSet: level, longest: &longest)
                }
                #expect(end == expected.end && longest == expected.longest, "\(bytes) max \(max) dots \(dotEnds) level \(level)")
            }
        }
    }

    @Test func x86MachinesHaveAVectorPath() {
        #if arch(x86_64)
        #expect(LineEndSearch.scanLevel >= 1)
        #endif
    }

    @Test func startsWhereItIsToldAndKeepsALongerLongest() {
        let bytes = Array("xx\r\nabc\r\nde\r\n.f\r\n".utf8)
        var longest = 9
        let end = bytes.withUnsafeBytes { LineEndSearch.plainLines(in: $0, from: 4, to: $0.count, longest: &longest) }
        #expect(end == 13 && longest == 9)
        longest = 0
        let all = bytes.withUnsafeBytes { LineEndSearch.plainLines(in: $0, from: 0, to: $0.count, dotEnds: false, longest: &longest) }
        #expect(all == bytes.count && longest == 3)
    }

    /// DATA framing fed whole takes the SIMD runs; fed octet by octet it
    /// cannot (no whole line is ever in the buffer). Both must frame alike.
    @Test func dataFramingMatchesOctetByOctet() {
        var random = Random(state: 11)
        for _ in 0..<2000 {
            let content = random.text(upTo: 400)
            let input = "DATA\r\n" + String(decoding: content, as: UTF8.self) + "\r\n.\r\nQUIT\r\n"
            let step = 1 + random.below(50)
            let whole = decode(input)
            #expect(whole == decode(input, step: 1), "\(content)")
            #expect(whole == decode(input, step: step), "\(content) in steps of \(step)")
        }
    }

    /// The text check in one call against the same text octet by octet.
    @Test func textCheckMatchesOctetByOctet() {
        var random = Random(state: 13)
        for round in 0..<3000 {
            var bytes = random.text(upTo: 300)
            if round % 5 == 0 { bytes += [UInt8](repeating: UInt8(ascii: "z"), count: 990 + random.below(20)) + [13, 10] }
            let bdat = round % 2 == 1
            var whole = MessageTextCheck(checksLineEndings: bdat)
            bytes.withUnsafeBytes { whole.scan($0) }
            var drip = MessageTextCheck(checksLineEndings: bdat)
            for byte in bytes { [byte].withUnsafeBytes { drip.scan($0) } }
            #expect(whole == drip, "\(bytes) bdat \(bdat)")
            // Cut where reads would: lines left open at chunk ends.
            var pieces = MessageTextCheck(checksLineEndings: bdat)
            var from = 0, cuts: [Int] = []
            while from < bytes.count {
                let to = min(bytes.count, from + 1 + random.below(120))
                bytes[from..<to].withUnsafeBytes { pieces.scan($0) }
                cuts.append(to)
                from = to
            }
            #expect(whole == pieces, "\(bytes) cut at \(cuts) bdat \(bdat)")
        }
    }

    /// `isPlain`: the text is whole lines, each ending in CRLF with no other
    /// CR, LF or NUL, at most 998 octets, not starting with "."; in either
    /// mode and however the text is cut.
    @Test func plainnessMatchesTheDefinition() {
        var random = Random(state: 17)
        var plainSeen = 0
        for round in 0..<4000 {
            // Half the inputs built from plain lines only, so that both answers occur.
            var bytes: [UInt8] = []
            if round % 2 == 0 {
                for _ in 0..<random.below(6) {
                    bytes += (0..<random.below(60)).map { _ in UInt8(ascii: "a") + UInt8(random.below(26)) } + [13, 10]
                }
                if random.below(4) == 0 { bytes.insert(random.below(2) == 0 ? UInt8(ascii: ".") : 10, at: random.below(bytes.count + 1)) }
            } else {
                bytes = random.text(upTo: 200)
            }
            let lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
            let expected = (bytes.isEmpty || bytes.last == 10) && lines.dropLast().allSatisfy { line in
                line.last == 13 && line.count - 1 <= 998 && line.first != UInt8(ascii: ".")
                    && !line.dropLast().contains(13) && !line.contains(0)
            }
            var check = MessageTextCheck(checksLineEndings: round % 3 == 0)
            var from = 0
            while from < bytes.count {
                let to = min(bytes.count, from + 1 + random.below(70))
                bytes[from..<to].withUnsafeBytes { check.scan($0) }
                from = to
            }
            #expect(check.isPlain == expected, "\(bytes)")
            if expected { plainSeen += 1 }
        }
        #expect(plainSeen > 500)
    }

    /// What the framing calls plain is whole plain lines with that longest
    /// line, and the text check fed by it (no pass over plain runs) ends as
    /// one that read all the content, however the input was cut.
    @Test func framingsPlainRunsAreWhatTheyClaim() {
        var random = Random(state: 19)
        var plainRuns = 0
        for round in 0..<3000 {
            var text = random.text(upTo: 400)
            if round % 7 == 0 { text += [UInt8](repeating: UInt8(ascii: "q"), count: 995 + random.below(8)) + [13, 10] }
            let input = text + Array("\r\n.\r\n".utf8)
            let step = round % 3 == 0 ? input.count : 1 + random.below(90)
            var decoder = SMTPFrameDecoder()
            decoder.beginData()
            var buffer = ByteBuffer()
            var fused = MessageTextCheck(checksLineEndings: false)
            var content: [UInt8] = []
            var ended = false
            var from = 0
            feeding: while from < input.count {
                let to = min(input.count, from + step)
                buffer.writeBytes(input[from..<to])
                from = to
                while let frame = decoder.next(&buffer) {
                    switch frame {
                    case .dataContent(let slice):
                        let bytes = Array(slice.readableBytesView)
                        if let longest = decoder.plainContentLongest {
                            plainRuns += 1
                            var found = 0
                            let end = bytes.withUnsafeBytes {
                                LineEndSearch.plainLines(in: $0, from: 0, to: $0.count, maxLineLength: 998, longest: &found)
                            }
                            #expect(end == bytes.count && found == longest, "\(bytes) called plain, longest \(longest)")
                            bytes.withUnsafeBytes { fused.scanPlain($0, longest: longest) }
                        } else {
                            bytes.withUnsafeBytes { fused.scan($0) }
                        }
                        content += bytes
                    case .dataEnd:
                        ended = true
                        break feeding
                    default:
                        break feeding
                    }
                }
            }
            guard ended else { continue }
            var whole = MessageTextCheck(checksLineEndings: false)
            content.withUnsafeBytes { whole.scan($0) }
            #expect(fused == whole, "\(input) in steps of \(step)")
        }
        #expect(plainRuns > 1000)
    }
}
