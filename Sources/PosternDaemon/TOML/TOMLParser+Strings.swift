/// The four string forms (TOML v1.0 "String"). Multi-line strings store
/// line ends as "\n" whether the file used LF or CRLF.
extension TOMLParser {
    /// string = ml-basic-string / basic-string / ml-literal-string / literal-string
    mutating func parseString() throws(TOMLError) -> String {
        let delimiter = bytes[position]
        let tripled = peek(1) == delimiter && peek(2) == delimiter
        switch (delimiter == TOMLByte.quote, tripled) {
        case (true, false): return try parseBasicString()
        case (true, true): return try parseMultilineBasicString()
        case (false, false): return try parseLiteralString()
        case (false, true): return try parseMultilineLiteralString()
        }
    }

    /// basic-string = quotation-mark *basic-char quotation-mark
    /// basic-char = basic-unescaped / escaped
    mutating func parseBasicString() throws(TOMLError) -> String {
        let start = position
        position += 1
        var text: [UInt8] = []
        var runStart = position
        while true {
            guard let byte = peek() else { throw unterminated(at: start, closing: "\"") }
            switch byte {
            case TOMLByte.quote:
                text.append(contentsOf: bytes[runStart..<position])
                position += 1
                return String(decoding: text, as: UTF8.self)
            case TOMLByte.backslash:
                text.append(contentsOf: bytes[runStart..<position])
                try parseEscape(into: &text)
                runStart = position
            case TOMLByte.lineFeed, TOMLByte.carriageReturn:
                throw unterminated(at: start, closing: "\"")
            default:
                try rejectControl(byte)
                position += 1
            }
        }
    }

    /// ml-basic-string = ml-basic-string-delim [ newline ] ml-basic-body ml-basic-string-delim
    /// A backslash at the end of a line trims it and all whitespace and
    /// newlines that follow (mlb-escaped-nl).
    mutating func parseMultilineBasicString() throws(TOMLError) -> String {
        let start = position
        position += 3
        _ = try consumeNewline()
        var text: [UInt8] = []
        while true {
            guard let byte = peek() else { throw unterminated(at: start, closing: "\"\"\"") }
            switch byte {
            case TOMLByte.quote:
                if try closeMultiline(TOMLByte.quote, appendingTo: &text) {
                    return String(decoding: text, as: UTF8.self)
                }
            case TOMLByte.backslash:
                if try skipLineEndingBackslash() { continue }
                try parseEscape(into: &text)
            case TOMLByte.lineFeed, TOMLByte.carriageReturn:
                _ = try consumeNewline()
                text.append(TOMLByte.lineFeed)
            default:
                try rejectControl(byte)
                text.append(byte)
                position += 1
            }
        }
    }

    /// literal-string = apostrophe *literal-char apostrophe
    mutating func parseLiteralString() throws(TOMLError) -> String {
        let start = position
        position += 1
        while true {
            guard let byte = peek() else { throw unterminated(at: start, closing: "'") }
            switch byte {
            case TOMLByte.apostrophe:
                position += 1
                return String(decoding: bytes[(start + 1)..<(position - 1)], as: UTF8.self)
            case TOMLByte.lineFeed, TOMLByte.carriageReturn:
                throw unterminated(at: start, closing: "'")
            default:
                try rejectControl(byte)
                position += 1
            }
        }
    }

    /// ml-literal-string = ml-literal-string-delim [ newline ] ml-literal-body ml-literal-string-delim
    mutating func parseMultilineLiteralString() throws(TOMLError) -> String {
        let start = position
        position += 3
        _ = try consumeNewline()
        var text: [UInt8] = []
        while true {
            guard let byte = peek() else { throw unterminated(at: start, closing: "'''") }
            switch byte {
            case TOMLByte.apostrophe:
                if try closeMultiline(TOMLByte.apostrophe, appendingTo: &text) {
                    return String(decoding: text, as: UTF8.self)
                }
            case TOMLByte.lineFeed, TOMLByte.carriageReturn:
                _ = try consumeNewline()
                text.append(TOMLByte.lineFeed)
            default:
                try rejectControl(byte)
                text.append(byte)
                position += 1
            }
        }
    }

    /// At a run of delimiter characters inside a multi-line string: one or
    /// two are content; three close the string, and up to two more before
    /// them are content (`""""` ends a string with one quote). Returns true
    /// when the string closed.
    private mutating func closeMultiline(_ delimiter: UInt8, appendingTo text: inout [UInt8]) throws(TOMLError) -> Bool {
        var run = 0
        while peek(run) == delimiter { run += 1 }
        if run > 5 {
            throw error(.syntax, "too many \(TOMLByte.describe(delimiter)) characters: a multi-line string may hold at most two in a row", at: position + 3)
        }
        let content = run >= 3 ? run - 3 : run
        text.append(contentsOf: repeatElement(delimiter, count: content))
        position += run
        return run >= 3
    }

    /// mlb-escaped-nl = escape ws newline *( wschar / newline ). Returns
    /// false, consuming nothing, when the backslash starts an ordinary escape.
    private mutating func skipLineEndingBackslash() throws(TOMLError) -> Bool {
        var ahead = 1
        while let byte = peek(ahead), TOMLByte.isWhitespace(byte) { ahead += 1 }
        let next = peek(ahead)
        guard next == TOMLByte.lineFeed || next == TOMLByte.carriageReturn else { return false }
        position += ahead
        while true {
            skipWhitespace()
            guard try consumeNewline() else { return true }
        }
    }

    /// escaped = escape escape-seq-char
    /// escape-seq-char = " \ b f n r t uXXXX UXXXXXXXX
    private mutating func parseEscape(into text: inout [UInt8]) throws(TOMLError) {
        let start = position
        guard let code = peek(1) else {
            throw error(.unterminatedString, "unterminated string: the file ends inside an escape sequence")
        }
        position += 2
        switch code {
        case UInt8(ascii: "b"): text.append(0x08)
        case UInt8(ascii: "t"): text.append(TOMLByte.tab)
        case UInt8(ascii: "n"): text.append(TOMLByte.lineFeed)
        case UInt8(ascii: "f"): text.append(0x0C)
        case UInt8(ascii: "r"): text.append(TOMLByte.carriageReturn)
        case TOMLByte.quote: text.append(TOMLByte.quote)
        case TOMLByte.backslash: text.append(TOMLByte.backslash)
        case UInt8(ascii: "u"): try parseUnicodeEscape(digits: 4, escapeStart: start, into: &text)
        case UInt8(ascii: "U"): try parseUnicodeEscape(digits: 8, escapeStart: start, into: &text)
        default:
            let shown = code >= 0x21 && code < 0x7F ? "'\\\(Character(Unicode.Scalar(code)))'" : "'\\' followed by \(describeCharacter(at: start + 1))"
            throw error(.invalidEscape, "invalid escape sequence \(shown); valid escapes are \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX", at: start)
        }
    }

    private mutating func parseUnicodeEscape(digits: Int, escapeStart: Int, into text: inout [UInt8]) throws(TOMLError) {
        let letter = digits == 4 ? "u" : "U"
        var value: UInt32 = 0
        for ahead in 0..<digits {
            guard let byte = peek(ahead), TOMLByte.isHexDigit(byte) else {
                throw error(.invalidEscape, "'\\\(letter)' must be followed by \(digits) hexadecimal digits", at: escapeStart)
            }
            value = value << 4 | UInt32(TOMLByte.digitValue(byte))
        }
        guard let scalar = Unicode.Scalar(value) else {
            let written = String(decoding: bytes[escapeStart..<(position + digits)], as: UTF8.self)
            throw error(.invalidEscape, "'\(written)' is not a Unicode scalar value", at: escapeStart)
        }
        position += digits
        text.append(contentsOf: String(scalar).utf8)
    }

    private func rejectControl(_ byte: UInt8) throws(TOMLError) {
        guard TOMLByte.isControl(byte) else { return }
        throw error(.controlCharacter, "control character \(describeCharacter(at: position)) is not allowed in a string; write it as an escape in a \"basic\" string")
    }

    private func unterminated(at start: Int, closing: String) -> TOMLError {
        let limit = closing.count == 3 ? "the end of the file" : "the end of the line"
        return error(.unterminatedString, "unterminated string: missing closing \(closing) before \(limit)", at: start)
    }
}
