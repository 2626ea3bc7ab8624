import NIOCore
import Testing
@testable import IMAPCore

/// Frames with their bytes as strings, for comparison.
enum Frame: Equatable, CustomStringConvertible {
    case command(String)
    case goAhead(Int)
    case tooLong
    case literalTooLarge(tag: String?, size: UInt64?, synchronizing: Bool)

    var description: String {
        switch self {
        case .command(let s): return "command(\(s.debugDescription))"
        case .goAhead(let n): return "goAhead(\(n))"
        case .tooLong: return "tooLong"
        case .literalTooLarge(let tag, let size, let sync): return "literalTooLarge(\(tag ?? "-"), \(size.map(String.init) ?? "-"), \(sync))"
        }
    }
}

/// Feeds `input` in pieces of `step` bytes (0 = all at once).
func decode(_ input: String, step: Int = 0, limits: IMAPLimits = IMAPDefaults.limits) -> [Frame] {
    let bytes = Array(input.utf8)
    let pieces = step == 0 ? [bytes[...]] : stride(from: 0, to: bytes.count, by: step).map { bytes[$0..<min($0 + step, bytes.count)] }
    return decode(pieces: pieces, limits: limits)
}

func decode(pieces: [ArraySlice<UInt8>], limits: IMAPLimits) -> [Frame] {
    var decoder = IMAPFrameDecoder(limits: limits)
    var buffer = ByteBuffer()
    var frames: [Frame] = []
    for piece in pieces {
        buffer.writeBytes(piece)
        while let frame = decoder.next(&buffer) {
            switch frame {
            case .command(let command): frames.append(.command(String(buffer: command)))
            case .needsContinuation(let size): frames.append(.goAhead(size))
            case .lineTooLong: frames.append(.tooLong)
            case .literalTooLarge(let rejection):
                frames.append(.literalTooLarge(tag: rejection.tag, size: rejection.size, synchronizing: rejection.synchronizing))
            }
        }
    }
    return frames
}

@Suite("IMAP frame decoder")
struct IMAPFrameDecoderTests {
    static let small = IMAPLimits(maxLineLength: 32, maxLiteralSize: 16, maxCommandSize: 64)

    static let cases: [(String, [Frame])] = [
        ("a1 NOOP\r\n", [.command("a1 NOOP")]),
        ("a1 NOOP\r\na2 CAPABILITY\r\n", [.command("a1 NOOP"), .command("a2 CAPABILITY")]),
        // A bare LF ends a line too (tolerated, see IMAPFrameDecoder).
        ("a1 NOOP\na2 LOGOUT\n", [.command("a1 NOOP"), .command("a2 LOGOUT")]),
        ("a1 NOOP", []),
        ("\r\n", [.command("")]),
        // Synchronizing literal: the caller is told to send "+ go ahead".
        ("a1 LOGIN {5}\r\nalice {3}\r\npwd\r\n",
         [.goAhead(5), .goAhead(3), .command("a1 LOGIN {5}\r\nalice {3}\r\npwd")]),
        // LITERAL+ (RFC 7888): no continuation.
        ("a1 LOGIN {5+}\r\nalice {3+}\r\npwd\r\n", [.command("a1 LOGIN {5+}\r\nalice {3+}\r\npwd")]),
        // Literal octets are counted, never scanned: CRLF and "{9}" inside stay.
        ("a1 LOGIN {8+}\r\na\r\n{9}\r\n x\r\n", [.command("a1 LOGIN {8+}\r\na\r\n{9}\r\n x")]),
        // A literal ending in a digit and a segment starting with "}" is no marker.
        ("a1 LOGIN {3+}\r\n{12}\r\n", [.command("a1 LOGIN {3+}\r\n{12}")]),
        ("a1 LOGIN {0}\r\n x\r\n", [.goAhead(0), .command("a1 LOGIN {0}\r\n x")]),
        // Not a literal marker: left for the parser to reject.
        ("a1 LOGIN {-1}\r\n", [.command("a1 LOGIN {-1}")]),
        ("a1 LOGIN {}\r\n", [.command("a1 LOGIN {}")]),
        ("a1 LOGIN x}\r\n", [.command("a1 LOGIN x}")]),
        // Over the literal limit: refused before reading; the client waits, so
        // the next line is a new command.
        ("a1 LOGIN {4294967295}\r\na2 NOOP\r\n",
         [.literalTooLarge(tag: "a1", size: 4294967295, synchronizing: true), .command("a2 NOOP")]),
        ("a {99999999999999999999}\r\na2 NOOP\r\n",
         [.literalTooLarge(tag: "a", size: nil, synchronizing: true), .command("a2 NOOP")]),
        ("a1 LOGIN {17}\r\n", [.literalTooLarge(tag: "a1", size: 17, synchronizing: true)]),
        ("{17}\r\n", [.literalTooLarge(tag: nil, size: 17, synchronizing: true)]),
        // An over-limit LITERAL+ stops the decoder: the octets are on their way.
        ("a1 LOGIN {17+}\r\n01234567890123456\r\na2 NOOP\r\n",
         [.literalTooLarge(tag: "a1", size: 17, synchronizing: false)]),
        // Line limit (32 octets with CRLF) per segment.
        ("a1 SEARCH SUBJECT 012345678901\r\n", [.command("a1 SEARCH SUBJECT 012345678901")]),
        ("a1 SEARCH SUBJECT 0123456789012\r\na2 NOOP\r\n", [.tooLong, .command("a2 NOOP")]),
        ("a1 SEARCH SUBJECT 0123456789012345678901234567890123456789\r\na2 NOOP\r\n", [.tooLong, .command("a2 NOOP")]),
        // Command budget: 64 octets; a literal that would pass it is refused.
        ("a1 LOGIN {16+}\r\n0123456789abcdef {16+}\r\n0123456789abcdef {16}\r\n",
         [.literalTooLarge(tag: "a1", size: 16, synchronizing: true)]),
    ]

    @Test("frames", arguments: cases)
    func frames(input: String, expected: [Frame]) {
        #expect(decode(input, limits: Self.small) == expected)
    }

    @Test("byte by byte gives the same frames", arguments: cases)
    func dripFed(input: String, expected: [Frame]) {
        for step in [1, 2, 3, 7] {
            #expect(decode(input, step: step, limits: Self.small) == expected, "step \(step)")
        }
    }

    @Test func stopsAfterRefusedNonSynchronizingLiteral() {
        var decoder = IMAPFrameDecoder(limits: Self.small)
        var buffer = ByteBuffer(string: "a1 LOGIN {17+}\r\n")
        guard case .literalTooLarge? = decoder.next(&buffer) else {
            Issue.record("expected literalTooLarge")
            return
        }
        #expect(decoder.isStopped)
        buffer.writeString("a2 NOOP\r\n")
        #expect(decoder.next(&buffer) == nil)
    }

    @Test func defaultLimitsAcceptLongUIDSets() {
        let set = (1...1500).map(String.init).joined(separator: ",")
        let line = "a1 UID FETCH \(set) (FLAGS)"
        #expect(line.utf8.count > 1000 && line.utf8.count < 8190)
        #expect(decode(line + "\r\n") == [.command(line)])
    }
}

@Suite("IMAP frame decoder: random splits")
struct IMAPFrameDecoderSplitTests {
    /// A small deterministic generator, so a failure can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func randomSplitsGiveTheSameFrames() {
        // Every case that leaves the decoder ready for a new command, one after another.
        let stream = IMAPFrameDecoderTests.cases.map(\.0)
            .filter { !$0.contains("+}\r\n0123") && $0.utf8.last == UInt8(ascii: "\n") }
            .joined()
        let expected = decode(stream, limits: IMAPFrameDecoderTests.small)
        #expect(expected.count > 20)
        #expect(!expected.contains(.literalTooLarge(tag: "a1", size: 17, synchronizing: false)))
        var generator = SplitMix(state: 14)
        let bytes = Array(stream.utf8)
        for _ in 0..<200 {
            var pieces: [ArraySlice<UInt8>] = []
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + Int.random(in: 1...12, using: &generator), bytes.count)
                pieces.append(bytes[offset..<end])
                offset = end
            }
            let frames = decode(pieces: pieces, limits: IMAPFrameDecoderTests.small)
            #expect(frames == expected)
        }
    }
}
