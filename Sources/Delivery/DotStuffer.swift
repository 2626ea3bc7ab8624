import NIOCore
import SMTPCore

/// Turns message content into the DATA stream (RFC 5321 §4.5.2): a "." that
/// starts a line is doubled, and the end is CRLF "." CRLF. Works on chunks
/// of any size, carrying the line state across chunk borders.
///
/// Line ends go out as CRLF only: a bare LF or bare CR in the content
/// (never in a queue file, whose bodies the server checked) becomes CRLF,
/// so no line end the next hop might see can hide an end of data (SMTP
/// smuggling).
///
/// Lines longer than `maxLineLength` octets (998: RFC 5322 §2.1.1, RFC 5321
/// §4.5.3.1.6, not counting CRLF or the stuffed dot) are broken as Postfix's
/// smtp_line_length_limit does: CRLF SP after every `maxLineLength` octets.
/// In the header section that is a fold; in the body the leading space keeps
/// a broken-off piece from ever reading as a MIME boundary or a lone ".".
public struct DotStuffer: Sendable {
    public static let defaultMaxLineLength = 998

    private let maxLineLength: Int
    private var atLineStart = true
    private var pendingCR = false
    /// Content octets of the current output line so far.
    private var lineLength = 0

    public init(maxLineLength: Int = DotStuffer.defaultMaxLineLength) {
        self.maxLineLength = max(2, maxLineLength)
    }

    /// Appends the stuffed form of `chunk` to `output`.
    public mutating func stuff(_ chunk: ByteBuffer, into output: inout ByteBuffer) {
        var stuffed = stuff(chunk)
        output.writeBuffer(&stuffed)
    }

    /// The stuffed form of `chunk`. A chunk that needs no change (every
    /// line starts without a dot, ends in CRLF and fits the limit: most
    /// mail) is given back as it is, a view of the same storage, so its
    /// octets are never copied on the way to the socket (issue #15).
    /// Otherwise the octets that need no change are copied in runs, one
    /// copy per run, not two buffer writes per line.
    public mutating func stuff(_ chunk: ByteBuffer) -> ByteBuffer {
        // Made at the first change; until then the chunk passes unchanged.
        var output: ByteBuffer?
        chunk.withUnsafeReadableBytes { bytes in
            var runStart = 0
            var index = 0
            /// Copies the unchanged octets before `end`, making the output first.
            func flushRun(upTo end: Int) {
                if output == nil { output = ByteBufferAllocator().buffer(capacity: bytes.count + 64) }
                if end > runStart { output!.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<end])) }
            }
            if pendingCR, !bytes.isEmpty {
                // The previous chunk ended in CR: its line end is written here.
                pendingCR = false
                flushRun(upTo: 0)
                output!.writeStaticString("\r\n")
                newLine()
                if bytes[0] == UInt8(ascii: "\n") { index = 1; runStart = 1 }
            }
            while index < bytes.count {
                if atLineStart {
                    // Whole lines that need no change, in one SIMD pass.
                    var longest = 0
                    index = LineEndSearch.plainLines(
                        in: bytes, from: index, to: bytes.count, maxLineLength: maxLineLength, longest: &longest)
                    if index == bytes.count { break }
                }
                switch bytes[index] {
                case UInt8(ascii: "\r"):
                    if index + 1 < bytes.count {
                        if bytes[index + 1] != UInt8(ascii: "\n") {
                            // A bare CR: a CRLF instead.
                            flushRun(upTo: index)
                            output!.writeStaticString("\r\n")
                            runStart = index + 1
                        }
                        index += bytes[index + 1] == UInt8(ascii: "\n") ? 2 : 1
                    } else {
                        // The chunk ends in CR: the next octet decides.
                        flushRun(upTo: index)
                        pendingCR = true
                        index += 1
                        runStart = index
                    }
                    newLine()
                case UInt8(ascii: "\n"):
                    // A bare LF: a CRLF instead.
                    flushRun(upTo: index)
                    output!.writeStaticString("\r\n")
                    index += 1
                    runStart = index
                    newLine()
                case UInt8(ascii: ".") where atLineStart:
                    flushRun(upTo: index)
                    output!.writeInteger(UInt8(ascii: "."))
                    atLineStart = false
                    lineLength = 1
                    runStart = index
                    index += 1
                default:
                    if lineLength == maxLineLength {
                        // One octet too many: break the line, the piece goes on after a space.
                        flushRun(upTo: index)
                        output!.writeStaticString("\r\n ")
                        lineLength = 1
                        runStart = index
                    }
                    atLineStart = false
                    // The rest of the line up to its end or its length limit
                    // in one search, not octet by octet.
                    let end = LineEndSearch.first(in: bytes, from: index, to: min(bytes.count, index + maxLineLength - lineLength))
                    lineLength += end - index
                    index = end
                }
            }
            if output != nil { flushRun(upTo: index) }
        }
        return output ?? chunk
    }

    /// Nothing of a line is pending: what follows starts a line.
    public var isAtLineStart: Bool { atLineStart && !pendingCR }

    private mutating func newLine() {
        atLineStart = true
        lineLength = 0
    }

    /// Ends the content: a line end if the content did not finish with one,
    /// then ".\r\n".
    public mutating func finish(into output: inout ByteBuffer) {
        if pendingCR {
            pendingCR = false
            output.writeStaticString("\r\n")
            atLineStart = true
        }
        if !atLineStart { output.writeStaticString("\r\n") }
        output.writeStaticString(".\r\n")
        atLineStart = true
        lineLength = 0
    }

    /// The whole DATA stream for `content` (tests and small messages).
    public static func stuffed(_ content: ByteBuffer, maxLineLength: Int = defaultMaxLineLength) -> ByteBuffer {
        var stuffer = DotStuffer(maxLineLength: maxLineLength)
        var output = stuffer.stuff(content)
        stuffer.finish(into: &output)
        return output
    }
}
