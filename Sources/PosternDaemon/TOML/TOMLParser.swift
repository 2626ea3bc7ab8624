/// TOML v1.0 (https://toml.io/en/v1.0.0) for Postern's configuration and
/// policy files. Unlike general-purpose TOML libraries, it records the line
/// of every key so `postern config check` can point at mistakes.
public enum TOML {
    /// Parses a whole document into its root table.
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = TOMLParser(text)
        return try parser.parseDocument()
    }
}

/// A recursive-descent parser over the document's UTF-8 bytes. Each
/// `parseX` consumes exactly one grammar rule from `position` and leaves
/// `position` just past it; the ABNF rule it implements is quoted above it.
/// The pieces live in extensions: keys and values here, table headers and
/// definition rules in `+Tables`, arrays and inline tables in
/// `+Collections`, strings in `+Strings`, numbers in `+Numbers` and
/// date-times in `+DateTime`.
struct TOMLParser {
    /// A key segment and where it starts, so errors can point at it.
    struct KeyPart {
        let name: String
        let offset: Int
    }

    let bytes: [UInt8]
    var position = 0
    /// Byte offset of the first byte of each line, for offset → line/column.
    private let lineStarts: [Int]
    /// Index into `lineStarts` of the last line found by `currentLine(at:)`.
    private var lineHint = 0
    /// Numbers the `[header]` sections (and inline tables), so dotted keys
    /// can tell their own tables from tables of earlier sections.
    var sectionCount = 0
    /// Name of the current `[header]` section, for messages.
    var sectionName: [String] = []

    init(_ text: String) {
        bytes = Array(text.utf8)
        var starts = [0]
        for (offset, byte) in bytes.enumerated() where byte == TOMLByte.lineFeed {
            starts.append(offset + 1)
        }
        lineStarts = starts
    }

    var isAtEnd: Bool { position >= bytes.count }

    /// The byte at `position + ahead`, or nil past the end.
    func peek(_ ahead: Int = 0) -> UInt8? {
        let index = position + ahead
        return index < bytes.count ? bytes[index] : nil
    }

    // MARK: Positions and errors

    func line(at offset: Int) -> Int {
        // Last line start <= offset.
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return low + 1
    }

    /// `line(at:)` for the parser's own, mostly increasing, positions: walks
    /// forward from the previous answer instead of searching.
    mutating func currentLine(at offset: Int) -> Int {
        guard lineStarts[lineHint] <= offset else { return line(at: offset) }
        while lineHint + 1 < lineStarts.count, lineStarts[lineHint + 1] <= offset { lineHint += 1 }
        return lineHint + 1
    }

    func error(_ kind: TOMLError.Kind, _ message: String, at offset: Int? = nil) -> TOMLError {
        let offset = min(offset ?? position, bytes.count)
        let line = line(at: offset)
        var column = 1
        for byte in bytes[lineStarts[line - 1]..<offset] where byte & 0xC0 != 0x80 {
            column += 1
        }
        return TOMLError(kind: kind, line: line, column: column, message: message)
    }

    /// The character at `offset` for messages: `'x'`, `U+0007`, or the
    /// whole (multi-byte) character.
    func describeCharacter(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of file" }
        let byte = bytes[offset]
        if byte == TOMLByte.lineFeed || byte == TOMLByte.carriageReturn { return "end of line" }
        if byte < 0x80 { return TOMLByte.describe(byte) }
        var end = offset + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        return "'" + String(decoding: bytes[offset..<end], as: UTF8.self) + "'"
    }

    // MARK: Whitespace, comments, newlines

    mutating func skipWhitespace() {
        while let byte = peek(), TOMLByte.isWhitespace(byte) { position += 1 }
    }

    /// newline = %x0A / %x0D.0A. Returns false when no newline is here; a
    /// carriage return on its own is an error.
    mutating func consumeNewline() throws(TOMLError) -> Bool {
        switch peek() {
        case TOMLByte.lineFeed:
            position += 1
            return true
        case TOMLByte.carriageReturn:
            guard peek(1) == TOMLByte.lineFeed else {
                throw error(.controlCharacter, "carriage return must be followed by a line feed")
            }
            position += 2
            return true
        default:
            return false
        }
    }

    /// comment = "#" *non-eol, where non-eol = %x09 / %x20-7E / non-ascii.
    /// Stops before the line end.
    mutating func skipComment() throws(TOMLError) {
        position += 1
        while let byte = peek(), byte != TOMLByte.lineFeed {
            if byte == TOMLByte.carriageReturn, peek(1) == TOMLByte.lineFeed { return }
            if TOMLByte.isControl(byte) {
                throw error(.controlCharacter, "control character \(describeCharacter(at: position)) is not allowed in a comment")
            }
            position += 1
        }
    }

    /// ws-comment-newline = *( wschar / [ comment ] newline ), used inside arrays.
    mutating func skipWhitespaceCommentsAndNewlines() throws(TOMLError) {
        while true {
            skipWhitespace()
            if peek() == TOMLByte.hash { try skipComment() }
            guard try consumeNewline() else { return }
        }
    }

    /// After an expression: ws [ comment ], then a newline or the end.
    mutating func finishLine(after what: String) throws(TOMLError) {
        skipWhitespace()
        if peek() == TOMLByte.hash { try skipComment() }
        guard !isAtEnd, !(try consumeNewline()) else { return }
        throw error(.trailingCharacters, "unexpected \(describeCharacter(at: position)) after \(what); expected a newline or a comment")
    }

    // MARK: Document

    /// toml = expression *( newline expression )
    /// expression = ws [ comment ] / ws keyval ws [ comment ] / ws table ws [ comment ]
    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        let root = TOMLTableNode(origin: .root)
        var current = root
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }  // UTF-8 byte order mark
        while true {
            skipWhitespace()
            guard let byte = peek() else { break }
            switch byte {
            case TOMLByte.hash:
                try finishLine(after: "comment")
            case TOMLByte.lineFeed, TOMLByte.carriageReturn:
                _ = try consumeNewline()
            case TOMLByte.openBracket:
                current = try parseTableHeader(root: root)
                try finishLine(after: "table header")
            default:
                try parseKeyValue(into: current, section: sectionCount)
                try finishLine(after: "value")
            }
        }
        return root.build()
    }

    // MARK: Keys

    /// key = simple-key / dotted-key; dotted-key = simple-key 1*( dot-sep simple-key ).
    /// Also skips the whitespace after the key.
    mutating func parseKey() throws(TOMLError) -> [KeyPart] {
        var parts: [KeyPart] = []
        while true {
            parts.append(try parseSimpleKey())
            skipWhitespace()
            guard peek() == TOMLByte.dot else { return parts }
            guard parts.count < TOMLLimits.maximumNesting else {
                throw error(.nestingTooDeep, "key has more than \(TOMLLimits.maximumNesting) parts")
            }
            position += 1
            skipWhitespace()
        }
    }

    /// simple-key = quoted-key / unquoted-key
    mutating func parseSimpleKey() throws(TOMLError) -> KeyPart {
        let start = position
        switch peek() {
        case TOMLByte.quote:
            if peek(1) == TOMLByte.quote, peek(2) == TOMLByte.quote {
                throw error(.syntax, "a key cannot be a multi-line string")
            }
            return KeyPart(name: try parseBasicString(), offset: start)
        case TOMLByte.apostrophe:
            if peek(1) == TOMLByte.apostrophe, peek(2) == TOMLByte.apostrophe {
                throw error(.syntax, "a key cannot be a multi-line string")
            }
            return KeyPart(name: try parseLiteralString(), offset: start)
        default:
            while let byte = peek(), TOMLByte.isBareKey(byte) { position += 1 }
            guard position > start else {
                throw error(.syntax, "expected a key, found \(describeCharacter(at: position))")
            }
            return KeyPart(name: String(decoding: bytes[start..<position], as: UTF8.self), offset: start)
        }
    }

    /// A key as a person would write it: `a."b.c".d`.
    static func dottedName(_ parts: some Collection<KeyPart>) -> String {
        dottedName(parts.map(\.name))
    }

    static func dottedName(_ names: [String]) -> String {
        names.map { name in
            !name.isEmpty && name.utf8.allSatisfy(TOMLByte.isBareKey) ? name : "\"" + name + "\""
        }.joined(separator: ".")
    }

    // MARK: Key/value pairs

    /// keyval = key keyval-sep val; keyval-sep = ws "=" ws
    mutating func parseKeyValue(into table: TOMLTableNode, section: Int, depth: Int = 0) throws(TOMLError) {
        let key = try parseKey()
        guard peek() == TOMLByte.equals else {
            throw error(.syntax, "expected '=' after key '\(Self.dottedName(key))'")
        }
        position += 1
        skipWhitespace()
        let value = try parseValue(depth: depth)
        try define(key, value: value, in: table, section: section)
    }

    /// val = string / boolean / array / inline-table / date-time / float / integer
    mutating func parseValue(depth: Int) throws(TOMLError) -> TOMLValue {
        guard let byte = peek() else { throw error(.syntax, "expected a value, found end of file") }
        switch byte {
        case TOMLByte.quote, TOMLByte.apostrophe:
            return .string(try parseString())
        case TOMLByte.openBracket:
            return .array(try parseArray(depth: depth + 1))
        case TOMLByte.openBrace:
            return .table(try parseInlineTable(depth: depth + 1))
        case _ where TOMLByte.isDigit(byte) && looksLikeDateOrTime():
            return .datetime(try parseDateTime())
        case _ where TOMLByte.isDigit(byte) || byte == TOMLByte.plus || byte == TOMLByte.minus:
            return try parseNumber()
        case _ where TOMLByte.isLetter(byte):
            return try parseWord()
        case TOMLByte.lineFeed, TOMLByte.carriageReturn, TOMLByte.hash:
            throw error(.syntax, "expected a value, found end of line")
        default:
            throw error(.syntax, "expected a value, found \(describeCharacter(at: position))")
        }
    }

    /// boolean = true / false; also inf and nan, and a friendly error for
    /// an unquoted string.
    mutating func parseWord() throws(TOMLError) -> TOMLValue {
        let start = position
        while let byte = peek(), TOMLByte.isValueWord(byte) { position += 1 }
        let word = String(decoding: bytes[start..<position], as: UTF8.self)
        switch word {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        case "inf", "nan":
            position = start
            return try parseNumber()
        default:
            throw error(.syntax, "invalid value '\(word)'; strings must be quoted", at: start)
        }
    }
}
