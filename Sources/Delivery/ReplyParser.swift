import NIOCore
import SMTPCore

/// Why the next hop's answer could not be read as an SMTP reply. Any of these
/// ends the connection: the byte stream can no longer be trusted.
public enum ReplyParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No line end within `maxLineLength` octets.
    case lineTooLong(limit: Int)
    /// A multi-line reply went on past `maxLines` lines.
    case tooManyLines(limit: Int)
    /// A multi-line reply went on past `maxReplyLength` octets.
    case replyTooLong(limit: Int)
    /// A line that does not start with a reply code 2xx–5xx and SP, "-" or
    /// the line end; the offending line (cut short) is kept for the log.
    case malformedLine(String)
    /// A continuation line carried another code than the first line.
    case inconsistentCode(first: Int, later: Int)

    public var description: String {
        switch self {
        case .lineTooLong(let limit): return "reply too long: no line end within \(limit) octets"
        case .tooManyLines(let limit): return "reply too long: more than \(limit) lines"
        case .replyTooLong(let limit): return "reply too long: more than \(limit) octets"
        case .malformedLine(let line): return "malformed reply line \"\(line)\""
        case .inconsistentCode(let first, let later): return "reply code changed from \(first) to \(later) within one reply"
        }
    }
}

/// Reads SMTP replies from the bytes a server sends (RFC 5321 §4.2):
///
///     Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
///                      Reply-code [ SP textstring ] CRLF
///     Reply-code     = %x32-35 %x30-35 %x30-39
///
/// Accepts a bare LF as line end (a client should be liberal here, the
/// server's own framing is not our risk), keeps a partial reply between
/// calls, and strips an enhanced status code (RFC 2034 §4) when the first
/// line carries one whose class matches the reply code; servers that send
/// none are fine.
///
/// Memory is bounded whatever the server sends: a line, the lines of one
/// reply and their octets all have limits, and passing one is an error
/// that ends the connection (an endless line or "250-" forever costs at most
/// `maxReplyLength` plus one line).
public struct ReplyParser: Sendable {
    /// Longest line including its line end. RFC 5321 §4.5.3.1.5 sets 512;
    /// real servers send longer EHLO and error texts, so the default is wider.
    public var maxLineLength: Int
    /// Longest multi-line reply (EHLO replies have one line per extension).
    public var maxLines: Int
    /// Most octets of text in one reply, all its lines together.
    public var maxReplyLength: Int

    /// One-line replies of printable ASCII (MAIL, RCPT, DATA, the end of
    /// data: nearly every reply of a delivery) are read straight from their
    /// octets; false sends every reply through the general path (the reply
    /// fuzz target checks that both read the same).
    public var oneLineFastPath = true

    private var pendingLines: [(code: Int, text: Substring)] = []
    private var pendingLength = 0

    public init(maxLineLength: Int = 4096, maxLines: Int = 100, maxReplyLength: Int = 64 * 1024) {
        self.maxLineLength = maxLineLength
        self.maxLines = maxLines
        self.maxReplyLength = maxReplyLength
    }

    /// True while part of a multi-line reply has been read.
    public var hasPartialReply: Bool { !pendingLines.isEmpty }

    /// Takes the next complete reply out of `buffer`, or returns nil and
    /// leaves an incomplete line in place until more bytes arrive.
    public mutating func next(_ buffer: inout ByteBuffer) throws(ReplyParseError) -> SMTPReply? {
        if oneLineFastPath, pendingLines.isEmpty, maxLines >= 1,
           let (reply, consumed) = buffer.withUnsafeReadableBytes({
               Self.oneLineReply($0, maxLineLength: maxLineLength, maxReplyLength: maxReplyLength)
           }) {
            buffer.moveReaderIndex(forwardBy: consumed)
            return reply
        }
        while let line = try Self.takeLine(&buffer, limit: maxLineLength) {
            let (code, isLast, text) = try Self.parseLine(line)
            if let first = pendingLines.first?.code, first != code {
                throw .inconsistentCode(first: first, later: code)
            }
            pendingLines.append((code, text))
            pendingLength += line.utf8.count
            guard pendingLines.count <= maxLines else { throw .tooManyLines(limit: maxLines) }
            guard pendingLength <= maxReplyLength else { throw .replyTooLong(limit: maxReplyLength) }
            if isLast {
                defer {
                    pendingLines.removeAll(keepingCapacity: true)
                    pendingLength = 0
                }
                return Self.makeReply(code: code, texts: pendingLines.map(\.text))
            }
        }
        return nil
    }

    /// A whole one-line reply at the front of `bytes` and the octets it took,
    /// or nil for anything else (no line end yet, a continuation line, a
    /// control or non-ASCII octet, a malformed or over-long line), which the
    /// general path then reads or refuses. What it returns is what the
    /// general path would: the code, the enhanced code when its class
    /// matches, the text after them. ~4 k instructions a reply less (issue #15).
    static func oneLineReply(_ bytes: UnsafeRawBufferPointer, maxLineLength: Int, maxReplyLength: Int) -> (SMTPReply, Int)? {
        guard let lf = bytes.prefix(maxLineLength).firstIndex(of: UInt8(ascii: "\n")), lf + 1 <= maxLineLength else { return nil }
        var end = lf
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        guard end >= 3, end <= maxReplyLength,
              (UInt8(ascii: "2")...UInt8(ascii: "5")).contains(bytes[0]),
              (UInt8(ascii: "0")...UInt8(ascii: "5")).contains(bytes[1]),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[2]),
              end == 3 || bytes[3] == UInt8(ascii: " ") else { return nil }
        let textStart = min(4, end)
        guard !bytes[textStart..<end].contains(where: { $0 < 0x20 || $0 > 0x7E }) else { return nil }
        let code = Int(bytes[0] - 0x30) * 100 + Int(bytes[1] - 0x30) * 10 + Int(bytes[2] - 0x30)
        var enhanced: EnhancedStatusCode?
        var lineStart = textStart
        if let found = leadingEnhancedCode(UnsafeRawBufferPointer(rebasing: bytes[textStart..<end])),
           Int(found.code.klass) == code / 100 {
            enhanced = found.code
            lineStart = textStart + found.textStart
        }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<end]), as: UTF8.self)
        return (SMTPReply(code: code, enhanced: enhanced, lines: [line]), lf + 1)
    }

    /// One line without its line end, or nil when no line end has arrived yet.
    static func takeLine(_ buffer: inout ByteBuffer, limit: Int) throws(ReplyParseError) -> Substring? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count >= limit { throw .lineTooLong(limit: limit) }
            return nil
        }
        let length = lf - view.startIndex
        guard length + 1 <= limit else { throw .lineTooLong(limit: limit) }
        var bytes = view[view.startIndex..<lf]
        if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        let line = String(decoding: bytes, as: UTF8.self)
        buffer.moveReaderIndex(forwardBy: length + 1)
        return Substring(line)
    }

    /// Reply-code, whether this is the last line, and the text after the separator.
    static func parseLine(_ line: Substring) throws(ReplyParseError) -> (Int, Bool, Substring) {
        let utf8 = Array(line.utf8.prefix(4))
        guard utf8.count >= 3,
              (UInt8(ascii: "2")...UInt8(ascii: "5")).contains(utf8[0]),
              (UInt8(ascii: "0")...UInt8(ascii: "5")).contains(utf8[1]),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(utf8[2]) else {
            throw .malformedLine(String(line.prefix(80)))
        }
        let code = Int(utf8[0] - 0x30) * 100 + Int(utf8[1] - 0x30) * 10 + Int(utf8[2] - 0x30)
        if utf8.count == 3 { return (code, true, "") }
        let text = line.dropFirst(4)
        switch utf8[3] {
        case UInt8(ascii: " "): return (code, true, text)
        case UInt8(ascii: "-"): return (code, false, text)
        default: throw .malformedLine(String(line.prefix(80)))
        }
    }

    /// Builds the reply; the enhanced code is taken when the first line has
    /// one of the reply's class, and then stripped from every line that repeats it.
    static func makeReply(code: Int, texts: [Substring]) -> SMTPReply {
        // SMTPReply turns controls into spaces; judge the enhanced code on
        // that text, so that the reply reads the same when written back.
        let texts = texts.map { SMTPReply.textLine(String($0)) }
        let enhanced = texts.first.flatMap { leadingEnhancedCode(Substring($0)) }.flatMap { found in
            Int(found.code.klass) == code / 100 ? found.code : nil
        }
        guard let enhanced else {
            return SMTPReply(code: code, lines: texts)
        }
        let lines = texts.map { text -> String in
            guard let found = leadingEnhancedCode(Substring(text)), found.code == enhanced else { return text }
            return String(found.rest)
        }
        return SMTPReply(code: code, enhanced: enhanced, lines: lines)
    }

    /// "X.Y.Z" at the start of a line, followed by SP or the end. Only that
    /// one SP is the separator (RFC 2034 §4): more belong to the text, so a
    /// reply written back as `SMTPReply.write` does reads the same.
    static func leadingEnhancedCode(_ text: Substring) -> (code: EnhancedStatusCode, rest: Substring)? {
        // By octets: the Character view (grapheme breaking) cost ~7 k
        // instructions per reply line (issue #15).
        let found = text.utf8.withContiguousStorageIfAvailable { leadingEnhancedCode(UnsafeRawBufferPointer($0)) }
            ?? Array(text.utf8).withUnsafeBytes { leadingEnhancedCode($0) }
        guard let found else { return nil }
        return (found.code, text[text.utf8.index(text.startIndex, offsetBy: found.textStart)...])
    }

    /// The same over a line's text as octets: the code and the offset of
    /// the text after it (the one-line fast path's and the general path's
    /// one rule).
    static func leadingEnhancedCode(_ octets: UnsafeRawBufferPointer) -> (code: EnhancedStatusCode, textStart: Int)? {
        let end = octets.firstIndex(of: UInt8(ascii: " ")) ?? octets.count
        guard end >= 5, let code = EnhancedStatusCode(octets: octets[..<end]) else { return nil }
        return (code, min(end + 1, octets.count))
    }
}
