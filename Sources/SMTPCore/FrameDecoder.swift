import NIOCore

/// What the framing layer found in the byte stream.
public enum SMTPFrame: Equatable, Sendable {
    /// One command line, CRLF (or a lone LF, tolerated for commands) removed.
    case command(ByteBuffer)
    /// A command line over the limit was read and thrown away (500 5.5.6).
    case commandTooLong
    /// Message bytes after dot-unstuffing (RFC 5321 §4.5.2), line ends intact.
    case dataContent(ByteBuffer)
    /// The CRLF "." CRLF that ends DATA.
    case dataEnd
    /// A CR or LF not part of a CRLF pair inside DATA: an SMTP smuggling
    /// attempt (CVE-2023-51764 family) or a broken client; the session ends.
    case dataBareLineEnding
    /// Bytes of the current BDAT chunk (RFC 3030).
    case chunkContent(ByteBuffer)
    /// The current BDAT chunk is complete.
    case chunkEnd
}

extension SMTPFrame {
    /// A command line was read (or thrown away as too long): the next one
    /// gets its own deadline.
    public var endsCommandLine: Bool {
        switch self {
        case .command, .commandTooLong: return true
        case .dataContent, .dataEnd, .dataBareLineEnding, .chunkContent, .chunkEnd: return false
        }
    }
}

/// Splits the inbound stream into command lines, DATA content and BDAT
/// chunks. It is ours because a generic line decoder accepts bare LF, which
/// is how smuggling works: here only CRLF.CRLF ends DATA.
public struct SMTPFrameDecoder: Sendable {
    public enum Mode: Equatable, Sendable {
        case command
        case data
        case chunk(remaining: Int)
        /// After a bare CR/LF in DATA nothing more is framed: the session ends.
        case stopped
    }

    public private(set) var mode: Mode = .command
    public let maxLineLength: Int

    /// Within DATA: where we are relative to line structure.
    private enum DataState: Sendable {
        case lineStart          // after CRLF (or at the start)
        case inLine
        case sawCR              // CR seen, LF expected
        case sawDot             // "." at line start
        case sawDotCR           // ".\r" at line start
    }
    private var dataState: DataState = .lineStart
    /// For the last `.dataContent`: the length of its longest line when it
    /// is whole plain lines only (each ends in CRLF, at most 998 octets, no
    /// other CR, LF or NUL, no leading dot; see MessageTextCheck.isPlain),
    /// else nil.
    public private(set) var plainContentLongest: Int?
    /// Discarding an over-long command line until its LF.
    private var discardingLine = false

    public init(maxLineLength: Int = SMTPDefaults.limits.maxCommandLineLength) {
        self.maxLineLength = maxLineLength
    }

    /// An over-long command line is being read and thrown away: the client
    /// is still inside a line, though none of it is buffered.
    public var isDiscardingLine: Bool { discardingLine }

    /// Switch to DATA after the 354 reply.
    public mutating func beginData() {
        mode = .data
        dataState = .lineStart
    }

    /// Switch to reading `size` octets of a BDAT chunk.
    public mutating func beginChunk(size: Int) {
        mode = .chunk(remaining: size)
    }

    /// Back to command lines (after a framing error that ends DATA early).
    public mutating func resetToCommandMode() {
        mode = .command
        discardingLine = false
    }

    /// The next frame, or nil when more bytes are needed.
    public mutating func next(_ buffer: inout ByteBuffer) -> SMTPFrame? {
        switch mode {
        case .stopped: return nil
        case .command: return nextCommand(&buffer)
        case .data: return nextData(&buffer)
        case .chunk(let remaining):
            if remaining == 0 {
                mode = .command
                return .chunkEnd
            }
            guard buffer.readableBytes > 0 else { return nil }
            let count = min(remaining, buffer.readableBytes)
            let slice = buffer.readSlice(length: count)!
            mode = .chunk(remaining: remaining - count)
            return .chunkContent(slice)
        }
    }

    private mutating func nextCommand(_ buffer: inout ByteBuffer) -> SMTPFrame? {
        let view = buffer.readableBytesView
        if discardingLine {
            if let lf = view.firstIndex(of: UInt8(ascii: "\n")) {
                buffer.moveReaderIndex(to: lf + 1)
                discardingLine = false
                return .commandTooLong
            }
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return nil
        }
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maxLineLength {
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                discardingLine = true
            }
            return nil
        }
        let lineLength = lf - buffer.readerIndex + 1
        guard lineLength <= maxLineLength else {
            buffer.moveReaderIndex(to: lf + 1)
            return .commandTooLong
        }
        var line = buffer.readSlice(length: lineLength)!
        line.moveWriterIndex(to: line.writerIndex - 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        return .command(line)
    }

    /// Scans DATA bytes and returns the longest run of content, stopping
    /// before a dot at the start of a line: a stuffed dot is dropped, and
    /// "." CRLF ends the message. A CR or LF outside a CRLF pair is an error.
    ///
    /// Whole plain lines (MessageTextCheck.isPlain's kind) are skipped in one
    /// SIMD pass and handed out as runs of their own, apart from the lines
    /// the octet rules took; `plainContentLongest` tells which a run is, so
    /// that the text check need not look at it again (issue #15).
    private mutating func nextData(_ buffer: inout ByteBuffer) -> SMTPFrame? {
        let start = buffer.readerIndex
        let end = buffer.writerIndex
        var runStart = start
        var state = dataState
        var result: SMTPFrame?
        var consumed = end
        // The run so far is plain lines only (an empty run counts).
        var plain = state == .lineStart
        var longest = 0
        buffer.withUnsafeReadableBytes { raw in
            var index = start
            while index < end {
                let byte = raw[index - start]
                switch state {
                case .lineStart:
                    if plain || index == runStart {
                        plain = true
                        let plainEnd = LineEndSearch.plainLines(
                            in: raw, from: index - start, to: end - start, maxLineLength: MessageTextCheck.maxLineLength,
                            longest: &longest)
                        if plainEnd > index - start {
                            index = plainEnd + start
                            continue
                        }
                    }
                    if index > runStart {
                        // Hand out the run so far: a line the octet rules
                        // took has ended (plain lines after it make a run of
                        // their own), or a plain run ends at a line that is
                        // not (a dot, a bare line end, a line cut by the
                        // read). The line here is scanned again next call.
                        result = .dataContent(ByteBuffer()) // placeholder, replaced below
                        consumed = index
                        return
                    }
                    plain = false
                    if byte == UInt8(ascii: ".") {
                        state = .sawDot
                        runStart = index + 1
                    } else if byte == UInt8(ascii: "\r") {
                        state = .sawCR
                    } else if byte == UInt8(ascii: "\n") {
                        result = .dataBareLineEnding; consumed = index + 1; return
                    } else {
                        state = .inLine
                    }
                case .inLine:
                    // The rest of the line in one search (issue #15).
                    let lineEnd = LineEndSearch.first(in: raw, from: index - start, to: end - start) + start
                    if lineEnd == end {
                        index = end
                        continue
                    }
                    index = lineEnd
                    if raw[index - start] == UInt8(ascii: "\r") {
                        state = .sawCR
                    } else {
                        result = .dataBareLineEnding; consumed = index + 1; return
                    }
                case .sawCR:
                    guard byte == UInt8(ascii: "\n") else {
                        result = .dataBareLineEnding; consumed = index + 1; return
                    }
                    state = .lineStart
                case .sawDot:
                    if byte == UInt8(ascii: "\r") {
                        state = .sawDotCR
                        runStart = index + 1
                    } else if byte == UInt8(ascii: "\n") {
                        result = .dataBareLineEnding; consumed = index + 1; return
                    } else {
                        state = .inLine // stuffed dot dropped; content restarts here
                    }
                case .sawDotCR:
                    guard byte == UInt8(ascii: "\n") else {
                        result = .dataBareLineEnding; consumed = index + 1; return
                    }
                    result = .dataEnd; consumed = index + 1; return
                }
                index += 1
            }
        }
        plainContentLongest = plain ? longest : nil
        switch result {
        case .dataContent:
            let slice = buffer.getSlice(at: runStart, length: consumed - runStart)!
            buffer.moveReaderIndex(to: consumed)
            dataState = state
            return .dataContent(slice)
        case .dataEnd, .dataBareLineEnding:
            buffer.moveReaderIndex(to: consumed)
            mode = result == .dataEnd ? .command : .stopped
            dataState = .lineStart
            return result
        default:
            dataState = state
            let slice = end > runStart ? buffer.getSlice(at: runStart, length: end - runStart) : nil
            buffer.moveReaderIndex(to: end)
            return slice.map { .dataContent($0) }
        }
    }
}
