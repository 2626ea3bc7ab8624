import NIOCore

/// Writes a message as the body of a RETR or TOP response, chunk by chunk,
/// so a large message is never copied whole a second time: each line that
/// starts with "." gets another "." (RFC 1939 §3 byte-stuffing), and
/// `finish` ends the response with "." CRLF.
///
/// For TOP (RFC 1939 §7) it passes the header, the blank line after it and
/// then `bodyLines` lines of the body, and ignores the rest; a message
/// without a blank line is all header and is sent whole.
public struct POP3MessageEncoder: Sendable {
    private enum Phase: Sendable, Equatable {
        /// RETR: every line, no counting.
        case whole
        /// TOP: in the header, looking for the blank line.
        case header(bodyLines: Int)
        /// TOP: body lines still to send (more than zero).
        case body(remaining: Int)
        /// TOP has sent all it was asked for.
        case complete
    }

    private var phase: Phase
    /// Octets of the current line seen so far (its LF not included).
    private var lineLength = 0
    /// The current line's first octet, to tell a blank line ("\r\n") apart.
    private var lineFirst: UInt8 = 0

    /// `bodyLines`: nil for RETR, the line count for TOP.
    public init(bodyLines: Int?) {
        phase = bodyLines.map { .header(bodyLines: $0) } ?? .whole
    }

    /// True once TOP has all it wanted: the caller may stop reading.
    public var isComplete: Bool { phase == .complete }

    /// Stuffs `chunk` into `buffer`; after `isComplete` it writes nothing.
    public mutating func encode(_ chunk: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        var start = chunk.startIndex
        while start < chunk.endIndex && phase != .complete {
            if lineLength == 0 {
                lineFirst = chunk[start]
                if lineFirst == UInt8(ascii: ".") { buffer.writeStaticString(".") }
            }
            guard let lf = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: chunk[start...]))
                lineLength += chunk.endIndex - start
                return
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: chunk[start...lf]))
            lineLength += lf - start
            lineEnded(blank: lineLength == 0 || (lineLength == 1 && lineFirst == UInt8(ascii: "\r")))
            start = lf + 1
        }
    }

    /// The terminating "." line, after a CRLF if the message did not end
    /// with a line end of its own.
    public mutating func finish(into buffer: inout ByteBuffer) {
        if lineLength > 0 { buffer.writeStaticString("\r\n") }
        lineLength = 0
        buffer.writeStaticString(".\r\n")
    }

    private mutating func lineEnded(blank: Bool) {
        lineLength = 0
        switch phase {
        case .whole, .complete:
            break
        case .header(let bodyLines):
            if blank { phase = bodyLines > 0 ? .body(remaining: bodyLines) : .complete }
        case .body(let remaining):
            phase = remaining > 1 ? .body(remaining: remaining - 1) : .complete
        }
    }
}
