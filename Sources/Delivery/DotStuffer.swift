import NIOCore

/// Turns message content into the DATA stream (RFC 5321 §4.5.2): a "." that
/// starts a line is doubled, and the end is CRLF "." CRLF. Works on chunks
/// of any size, carrying the line state across chunk borders.
///
/// Line ends go out as CRLF only: a bare LF or bare CR in the content
/// (never in a queue file, whose bodies the server checked) becomes CRLF,
/// so no line end the next hop might see can hide an end of data (SMTP
/// smuggling).
public struct DotStuffer: Sendable {
    private var atLineStart = true
    private var pendingCR = false

    public init() {}

    /// Appends the stuffed form of `chunk` to `output`.
    public mutating func stuff(_ chunk: ByteBuffer, into output: inout ByteBuffer) {
        output.reserveCapacity(minimumWritableBytes: chunk.readableBytes + 16)
        chunk.withUnsafeReadableBytes { bytes in
            var runStart = 0
            var index = 0
            func flushRun(upTo end: Int) {
                if end > runStart { output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<end])) }
            }
            while index < bytes.count {
                let byte = bytes[index]
                if pendingCR {
                    // The CR of the previous byte (maybe the previous chunk) is written here.
                    pendingCR = false
                    output.writeStaticString("\r\n")
                    atLineStart = true
                    if byte == UInt8(ascii: "\n") {
                        index += 1
                        runStart = index
                        continue
                    }
                }
                switch byte {
                case UInt8(ascii: "\r"):
                    flushRun(upTo: index)
                    pendingCR = true
                    index += 1
                    runStart = index
                case UInt8(ascii: "\n"):
                    flushRun(upTo: index)
                    output.writeStaticString("\r\n")
                    atLineStart = true
                    index += 1
                    runStart = index
                case UInt8(ascii: ".") where atLineStart:
                    flushRun(upTo: index)
                    output.writeInteger(UInt8(ascii: "."))
                    atLineStart = false
                    runStart = index
                    index += 1
                default:
                    atLineStart = false
                    index += 1
                }
            }
            flushRun(upTo: index)
        }
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
    }

    /// The whole DATA stream for `content` (tests and small messages).
    public static func stuffed(_ content: ByteBuffer) -> ByteBuffer {
        var stuffer = DotStuffer()
        var output = ByteBuffer()
        stuffer.stuff(content, into: &output)
        stuffer.finish(into: &output)
        return output
    }
}
