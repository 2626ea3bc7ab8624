import NIOCore
import Testing
@testable import SMTPCore

/// Frames with their bytes turned into strings, for comparison.
enum F: Equatable, CustomStringConvertible {
    case command(String), tooLong, content(String), end, bare, chunk(String), chunkEnd

    var description: String {
        switch self {
        case .command(let s): return "command(\(s.debugDescription))"
        case .tooLong: return "tooLong"
        case .content(let s): return "content(\(s.debugDescription))"
        case .end: return "end"
        case .bare: return "bare"
        case .chunk(let s): return "chunk(\(s.debugDescription))"
        case .chunkEnd: return "chunkEnd"
        }
    }
}

/// Feeds `input` in pieces of `step` bytes (0 = all at once), switching to
/// DATA after a "DATA" line and to chunk mode after "BDAT n", as the
/// handler does; merges adjacent content frames so results compare equal
/// however the input was split.
func decode(_ input: String, step: Int = 0, maxLine: Int = 1000) -> [F] {
    var decoder = SMTPFrameDecoder(maxLineLength: maxLine)
    var buffer = ByteBuffer()
    var frames: [F] = []
    let bytes = Array(input.utf8)
    let pieces = step == 0 ? [bytes[...]] : stride(from: 0, to: bytes.count, by: step).map { bytes[$0..<min($0 + step, bytes.count)] }
    func append(_ frame: F) {
        switch (frames.last, frame) {
        case (.content(let a)?, .content(let b)): frames[frames.count - 1] = .content(a + b)
        case (.chunk(let a)?, .chunk(let b)): frames[frames.count - 1] = .chunk(a + b)
        default: frames.append(frame)
        }
    }
    for piece in pieces {
        buffer.writeBytes(piece)
        while let frame = decoder.next(&buffer) {
            switch frame {
            case .command(let line):
                let text = String(buffer: line)
                append(.command(text))
                if text == "DATA" { decoder.beginData() }
                if text.hasPrefix("BDAT "), let size = Int(text.split(separator: " ")[1]) { decoder.beginChunk(size: size) }
            case .commandTooLong: append(.tooLong)
            case .dataContent(let content): append(.content(String(buffer: content)))
            case .dataEnd: append(.end)
            case .dataBareLineEnding:
                // The handler closes here; content read before it is thrown away.
                if case .content? = frames.last { frames.removeLast() }
                append(.bare)
            case .chunkContent(let content): append(.chunk(String(buffer: content)))
            case .chunkEnd: append(.chunkEnd)
            }
        }
    }
    return frames
}

@Suite("Framing decoder")
struct FrameDecoderTests {
    static let cases: [(String, [F])] = [
        ("EHLO a\r\n", [.command("EHLO a")]),
        ("NOOP\n", [.command("NOOP")]),
        ("EHLO a\r\nMAIL FROM:<a@b>\r\n", [.command("EHLO a"), .command("MAIL FROM:<a@b>")]),
        ("DATA\r\nhello\r\n.\r\n", [.command("DATA"), .content("hello\r\n"), .end]),
        ("DATA\r\n.\r\n", [.command("DATA"), .end]),
        ("DATA\r\n..leading dot\r\n.\r\n", [.command("DATA"), .content(".leading dot\r\n"), .end]),
        ("DATA\r\na\r\n..\r\nb\r\n.\r\n", [.command("DATA"), .content("a\r\n.\r\nb\r\n"), .end]),
        ("DATA\r\na.b\r\n.x\r\n.\r\nQUIT\r\n", [.command("DATA"), .content("a.b\r\nx\r\n"), .end, .command("QUIT")]),
        ("DATA\r\nx\r\n.\r\nMAIL FROM:<a@b>\r\n", [.command("DATA"), .content("x\r\n"), .end, .command("MAIL FROM:<a@b>")]),
        // SMTP smuggling: none of these ends DATA; every one is refused.
        ("DATA\r\nx\n.\nMAIL FROM:<evil@x>\r\n", [.command("DATA"), .bare]),
        ("DATA\r\nx\r\n.\nMAIL FROM:<evil@x>\r\n", [.command("DATA"), .bare]),
        ("DATA\r\nx\n.\r\nMAIL FROM:<evil@x>\r\n", [.command("DATA"), .bare]),
        ("DATA\r\nx\r.\rMAIL\r\n", [.command("DATA"), .bare]),
        ("DATA\r\nx\r\n.\rQUIT\r\n", [.command("DATA"), .bare]),
        ("DATA\r\nbare\rcr\r\n.\r\n", [.command("DATA"), .bare]),
        ("DATA\r\n\n.\r\n", [.command("DATA"), .bare]),
        ("BDAT 5\r\nhelloBDAT 3 LAST\r\nabcQUIT\r\n",
         [.command("BDAT 5"), .chunk("hello"), .chunkEnd, .command("BDAT 3 LAST"), .chunk("abc"), .chunkEnd, .command("QUIT")]),
        ("BDAT 4\r\n\r\n.\r\nNOOP\r\n", [.command("BDAT 4"), .chunk("\r\n.\r"), .chunkEnd, .command(""), .command("NOOP")]),
        ("BDAT 0 LAST\r\nQUIT\r\n", [.command("BDAT 0 LAST"), .chunkEnd, .command("QUIT")]),
    ]

    @Test("frames, whole and drip-fed byte by byte", arguments: cases)
    func frames(input: String, expected: [F]) {
        #expect(decode(input) == expected)
        #expect(decode(input, step: 1) == expected)
        #expect(decode(input, step: 3) == expected)
    }

    @Test func overlongLineIsDiscardedAndTheNextLineWorks() {
        let long = String(repeating: "A", count: 2000)
        for step in [0, 1, 7, 500] {
            #expect(decode("NOOP\r\n\(long)\r\nQUIT\r\n", step: step) == [.command("NOOP"), .tooLong, .command("QUIT")], "step \(step)")
        }
    }

    @Test func lineOfExactlyTheLimitIsAccepted() {
        let line = String(repeating: "B", count: 998) // + CRLF = 1000 octets
        #expect(decode(line + "\r\n") == [.command(line)])
        #expect(decode("C" + line + "\r\n") == [.tooLong])
    }

    @Test func largeDataStreamsInBoundedSlices() {
        var decoder = SMTPFrameDecoder()
        decoder.beginData()
        var buffer = ByteBuffer()
        var total = 0
        let line = String(repeating: "x", count: 76) + "\r\n"
        for _ in 0..<1000 {
            buffer.writeString(String(repeating: line, count: 10))
            while let frame = decoder.next(&buffer) {
                guard case .dataContent(let content) = frame else { Issue.record("unexpected \(frame)"); return }
                total += content.readableBytes
            }
            buffer.discardReadBytes()
            #expect(buffer.readableBytes < 8) // nothing accumulates between reads
        }
        buffer.writeString(".\r\n")
        #expect(decoder.next(&buffer) == .dataEnd)
        #expect(total == 1000 * 10 * 78)
    }
}
