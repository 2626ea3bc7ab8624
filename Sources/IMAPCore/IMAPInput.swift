/// A cursor over one framed command, with the primitive rules of RFC 3501 §9.
/// Every reader checks bounds and never traps on input.
struct IMAPInput {
    typealias Failure = IMAPParseError.Reason

    let bytes: [UInt8]
    var index = 0
    let limits: IMAPLimits
    /// Open parentheses and NOT/OR levels around the current position.
    var depth = 0

    init(_ bytes: [UInt8], limits: IMAPLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    func peek(is byte: UInt8) -> Bool { peek == byte }

    mutating func skip(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        index += 1
        return true
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(Failure) {
        guard skip(byte) else { throw .expected(what) }
    }

    mutating func space() throws(Failure) { try expect(UInt8(ascii: " "), "SP") }

    mutating func expectEnd() throws(Failure) {
        guard atEnd else { throw .unexpectedTrailingData }
    }

    /// Enters one level of nesting (a parenthesis, NOT, OR).
    mutating func descend() throws(Failure) {
        depth += 1
        guard depth <= limits.maxNestingDepth else { throw .nestingTooDeep }
    }

    mutating func ascend() { depth -= 1 }

    /// The longest run of bytes matching `predicate` (possibly empty).
    mutating func take(while predicate: (UInt8) -> Bool) -> ArraySlice<UInt8> {
        let start = index
        while index < bytes.count, predicate(bytes[index]) { index += 1 }
        return bytes[start..<index]
    }

    /// atom = 1*ATOM-CHAR
    mutating func atom(_ what: String = "atom") throws(Failure) -> String {
        let run = take(while: IMAPCharacters.isAtomChar)
        guard !run.isEmpty else { throw .expected(what) }
        return String(decoding: run, as: UTF8.self)
    }

    /// A keyword made of letters, digits and dots ("BODY.PEEK", "RFC822.SIZE"),
    /// uppercased; the bracket after BODY is not part of it.
    mutating func keyword(_ what: String) throws(Failure) -> String {
        let run = take { IMAPCharacters.isAlpha($0) || IMAPCharacters.isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
        guard !run.isEmpty else { throw .expected(what) }
        return String(decoding: run, as: UTF8.self).uppercased()
    }

    /// number = 1*DIGIT, an unsigned 32-bit integer
    mutating func number() throws(Failure) -> UInt32 {
        let run = take(while: IMAPCharacters.isDigit)
        guard !run.isEmpty else { throw .expected("number") }
        guard let value = IMAPCharacters.number(run, max: UInt64(UInt32.max)) else { throw .invalidNumber }
        return UInt32(value)
    }

    /// nz-number = digit-nz *DIGIT
    mutating func nonZeroNumber() throws(Failure) -> UInt32 {
        let value = try number()
        guard value != 0 else { throw .invalidNumber }
        return value
    }

    /// quoted = DQUOTE *QUOTED-CHAR DQUOTE
    /// QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials
    /// Octets over 0x7F are let through (RFC 6855 UTF8=ACCEPT); NUL, CR and LF never.
    mutating func quoted() throws(Failure) -> [UInt8] {
        try expect(UInt8(ascii: "\""), "quoted string")
        var result: [UInt8] = []
        while let byte = peek {
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return result
            case UInt8(ascii: "\\"):
                guard let escaped = peek, escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\") else {
                    throw .invalidQuotedString
                }
                index += 1
                result.append(escaped)
            case 0x00, UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                throw .invalidQuotedString
            default:
                result.append(byte)
            }
        }
        throw .invalidQuotedString
    }

    /// literal = "{" number ["+"] "}" CRLF *CHAR8 (RFC 3501, RFC 7888).
    /// CHAR8 = %x01-ff: a NUL is refused. The frame decoder has already
    /// gathered the octets; a bare LF after the marker is accepted because
    /// the decoder accepts it.
    mutating func literal() throws(Failure) -> [UInt8] {
        try expect(UInt8(ascii: "{"), "literal")
        let digits = take(while: IMAPCharacters.isDigit)
        guard let size = IMAPCharacters.number(digits, max: UInt64(UInt32.max)) else { throw .invalidLiteral }
        _ = skip(UInt8(ascii: "+"))
        guard skip(UInt8(ascii: "}")) else { throw .invalidLiteral }
        _ = skip(UInt8(ascii: "\r"))
        guard skip(UInt8(ascii: "\n")) else { throw .invalidLiteral }
        guard UInt64(bytes.count - index) >= size else { throw .invalidLiteral }
        let end = index + Int(size)
        let octets = Array(bytes[index..<end])
        guard !octets.contains(0) else { throw .invalidLiteral }
        index = end
        return octets
    }

    /// string = quoted / literal
    mutating func string() throws(Failure) -> [UInt8] {
        switch peek {
        case UInt8(ascii: "\""): return try quoted()
        case UInt8(ascii: "{"): return try literal()
        default: throw .expected("string")
        }
    }

    /// astring = 1*ASTRING-CHAR / string
    mutating func astring(_ what: String = "astring") throws(Failure) -> [UInt8] {
        switch peek {
        case UInt8(ascii: "\""), UInt8(ascii: "{"): return try string()
        default:
            let run = take(while: IMAPCharacters.isAstringChar)
            guard !run.isEmpty else { throw .expected(what) }
            return Array(run)
        }
    }

    /// An astring that must be UTF-8 text.
    mutating func text(_ what: String) throws(Failure) -> String {
        let raw = try astring(what)
        guard let value = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
        return value
    }

    /// nstring = string / nil
    mutating func nstring() throws(Failure) -> String? {
        if peek == UInt8(ascii: "N") || peek == UInt8(ascii: "n") {
            let start = index
            let word = take(while: IMAPCharacters.isAtomChar)
            guard String(decoding: word, as: UTF8.self).uppercased() == "NIL" else {
                index = start
                throw .expected("string or NIL")
            }
            return nil
        }
        let raw = try string()
        guard let value = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
        return value
    }

    /// Counts one more item in a list and enforces `maxListItems`.
    func checkCount(_ count: Int) throws(Failure) {
        guard count <= limits.maxListItems else { throw .tooManyItems }
    }
}
