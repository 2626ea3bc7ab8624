import NIOCore

/// What the framing layer found in the inbound byte stream.
public enum IMAPFrame: Equatable, Sendable {
    /// One complete command: every line segment with its literals, in wire
    /// form (`{n}` CRLF and the n octets stay in place for the parser), the
    /// final line ending removed.
    case command(ByteBuffer)
    /// A synchronizing literal `{n}` was announced (RFC 3501 §4.3): the
    /// server writes "+ go ahead" before the client sends the octets.
    case needsContinuation(size: Int)
    /// A line segment over `maxLineLength` was read to its end and dropped,
    /// with the command it belonged to. A literal announced in the dropped
    /// part cannot be seen, so the server should answer "* BAD" and close
    /// the connection rather than read on (RFC 7162 §4 asks clients to keep
    /// lines under 8192 octets).
    case lineTooLong
    /// A literal over `maxLiteralSize` (or the command budget) was refused
    /// before any of its octets were read.
    case literalTooLarge(LiteralRejection)
}

/// Why, and for which command, a literal was refused.
public struct LiteralRejection: Equatable, Sendable {
    /// The command's tag when it was readable, for a tagged BAD/NO.
    public var tag: String?
    /// The announced size; nil when it does not fit in 32 bits.
    public var size: UInt64?
    /// `{n}` (the client waits, so the command is simply abandoned) or
    /// `{n+}` (RFC 7888: the octets are already on their way; the decoder
    /// stops and the server answers BAD and closes the connection).
    public var synchronizing: Bool

    public init(tag: String?, size: UInt64?, synchronizing: Bool) {
        self.tag = tag
        self.size = size
        self.synchronizing = synchronizing
    }
}

/// Splits the inbound stream into complete IMAP commands with their literals.
///
/// A line ends at LF; a CR before it is removed with it. A bare LF is
/// tolerated as in SMTP command lines: a command line carries no message
/// text, so there is nothing to smuggle, and the exact octets a client means
/// always travel in literals, which are counted, never scanned. A stray CR
/// inside a line is left for the parser, which rejects it.
///
/// The result does not depend on how the bytes are split: fed one byte at a
/// time it gives the same frames as fed all at once.
public struct IMAPFrameDecoder: Sendable {
    private enum Mode: Equatable, Sendable {
        case line
        case literal(remaining: Int)
        /// Dropping the rest of an over-long line until its LF.
        case discardingLine
        /// After a refused non-synchronizing literal nothing is framed.
        case stopped
    }

    public let limits: IMAPLimits
    private var mode: Mode = .line
    /// The command read so far, literals included.
    private var pending = ByteBuffer()
    /// Octets of the current line segment.
    private var segmentLength = 0
    /// Where the current line segment starts in `pending`: a literal marker
    /// is looked for only there, never in the octets of an earlier literal.
    private var segmentStart = 0

    public init(limits: IMAPLimits = IMAPDefaults.limits) {
        self.limits = limits
    }

    /// True after a refused `{n+}` literal: the connection must close.
    public var isStopped: Bool { mode == .stopped }

    /// The next frame, or nil when more bytes are needed.
    public mutating func next(_ buffer: inout ByteBuffer) -> IMAPFrame? {
        while true {
            switch mode {
            case .stopped:
                return nil
            case .literal(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let count = min(remaining, buffer.readableBytes)
                var slice = buffer.readSlice(length: count) ?? ByteBuffer()
                pending.writeBuffer(&slice)
                if count == remaining {
                    mode = .line
                    segmentLength = 0
                    segmentStart = pending.writerIndex
                } else {
                    mode = .literal(remaining: remaining - count)
                    return nil
                }
            case .discardingLine:
                guard let lf = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                    buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                    return nil
                }
                buffer.moveReaderIndex(to: lf + 1)
                reset()
                return .lineTooLong
            case .line:
                guard let lf = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                    // Even the shortest ending (LF) would take it over the limit.
                    if segmentLength + buffer.readableBytes + 1 > limits.maxLineLength {
                        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                        mode = .discardingLine
                        return nil
                    }
                    segmentLength += buffer.readableBytes
                    var rest = buffer.readSlice(length: buffer.readableBytes) ?? ByteBuffer()
                    pending.writeBuffer(&rest)
                    return nil
                }
                let count = lf - buffer.readerIndex + 1
                if segmentLength + count > limits.maxLineLength {
                    buffer.moveReaderIndex(to: lf + 1)
                    reset()
                    return .lineTooLong
                }
                var segment = buffer.readSlice(length: count) ?? ByteBuffer()
                pending.writeBuffer(&segment)
                if let frame = endOfSegment() { return frame }
            }
        }
    }

    /// A line segment ended: either a literal follows or the command is whole.
    private mutating func endOfSegment() -> IMAPFrame? {
        let segment = pending.readableBytesView[(pending.readerIndex + segmentStart)...]
        guard let marker = LiteralMarker.atEnd(of: segment) else {
            var command = pending
            command.moveWriterIndex(to: command.writerIndex - 1)
            if command.readableBytesView.last == UInt8(ascii: "\r") {
                command.moveWriterIndex(to: command.writerIndex - 1)
            }
            reset()
            return .command(command)
        }
        let budget = limits.maxCommandSize - pending.readableBytes
        guard let size = marker.size, size <= UInt64(limits.maxLiteralSize), size <= UInt64(max(budget, 0)) else {
            let rejection = LiteralRejection(tag: Self.tag(of: pending), size: marker.size, synchronizing: marker.synchronizing)
            reset()
            if !marker.synchronizing { mode = .stopped }
            return .literalTooLarge(rejection)
        }
        let octets = Int(size)
        segmentLength = 0
        segmentStart = pending.writerIndex
        mode = octets == 0 ? .line : .literal(remaining: octets)
        return marker.synchronizing ? .needsContinuation(size: octets) : nil
    }

    private mutating func reset() {
        pending.clear()
        segmentLength = 0
        segmentStart = 0
        mode = .line
    }

    /// The first word of a command when it is a valid tag.
    private static func tag(of command: ByteBuffer) -> String? {
        let view = command.readableBytesView
        guard let space = view.firstIndex(of: UInt8(ascii: " ")), space > view.startIndex else { return nil }
        let word = view[view.startIndex..<space]
        guard word.allSatisfy(IMAPCharacters.isTagChar) else { return nil }
        return String(decoding: word, as: UTF8.self)
    }
}

/// `{n}` or `{n+}` at the end of a line segment (RFC 3501 §4.3, RFC 7888).
struct LiteralMarker: Equatable {
    /// nil when the digits do not fit in 32 bits (RFC 3501 `number`).
    var size: UInt64?
    var synchronizing: Bool

    /// Looks back from the line ending of `segment` for a literal marker.
    static func atEnd(of view: ByteBufferView) -> LiteralMarker? {
        var end = view.endIndex
        guard end > view.startIndex, view[end - 1] == UInt8(ascii: "\n") else { return nil }
        end -= 1
        if end > view.startIndex, view[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        guard end > view.startIndex, view[end - 1] == UInt8(ascii: "}") else { return nil }
        end -= 1
        var synchronizing = true
        if end > view.startIndex, view[end - 1] == UInt8(ascii: "+") {
            synchronizing = false
            end -= 1
        }
        var start = end
        while start > view.startIndex, IMAPCharacters.isDigit(view[start - 1]) { start -= 1 }
        guard start < end, start > view.startIndex, view[start - 1] == UInt8(ascii: "{") else { return nil }
        return LiteralMarker(size: IMAPCharacters.number(view[start..<end], max: UInt64(UInt32.max)), synchronizing: synchronizing)
    }
}
