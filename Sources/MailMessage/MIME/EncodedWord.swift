/// RFC 2047 encoded words in header text: `=?charset?B?...?=` and
/// `=?charset?Q?...?=`.
///
/// Decoding follows what mail readers do rather than the letter of §5:
/// encoded words are recognised anywhere (not only as whole atoms), white
/// space between two encoded words is dropped (§6.2), and adjacent words in
/// the same charset are joined as bytes before the charset is applied, so a
/// multi-byte character split across two words still decodes. Text that is
/// not a valid encoded word is kept unchanged.
public enum EncodedWord {
    /// Longest charset name considered (IANA names are at most 40).
    static let maxCharsetLength = 64

    /// Decodes every encoded word in `text` (already unfolded).
    public static func decode(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "=")) else { return text }
        var decoder = TextDecoder()
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "="), let word = parse(bytes, at: index) {
                decoder.appendWord(word)
                index = word.end
                continue
            }
            decoder.appendLiteral(bytes[index])
            index += 1
        }
        return decoder.finish()
    }

    /// One recognised encoded word: its charset (normalised) and decoded bytes.
    struct Word {
        var charset: String
        var bytes: [UInt8]
        /// Index just past the closing "?=".
        var end: Int
    }

    /// encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
    /// (RFC 2047 §2; charset may carry an RFC 2231 §5 "*language" suffix).
    static func parse(_ bytes: [UInt8], at start: Int) -> Word? {
        var index = start
        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "="),
              bytes[index + 1] == UInt8(ascii: "?") else { return nil }
        index += 2
        let charsetStart = index
        while index < bytes.count, bytes[index] != UInt8(ascii: "?") {
            guard !isWhitespace(bytes[index]), index - charsetStart < maxCharsetLength else { return nil }
            index += 1
        }
        guard index > charsetStart, index + 2 < bytes.count,
              bytes[index + 2] == UInt8(ascii: "?") else { return nil }
        let charset = String(decoding: bytes[charsetStart..<index], as: UTF8.self)
        let encoding = bytes[index + 1] | 0x20 // lowercase ASCII letter
        guard encoding == UInt8(ascii: "b") || encoding == UInt8(ascii: "q") else { return nil }
        index += 3
        let textStart = index
        while index < bytes.count, bytes[index] != UInt8(ascii: "?") {
            guard !isWhitespace(bytes[index]) else { return nil }
            index += 1
        }
        guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "=") else { return nil }
        let text = bytes[textStart..<index]
        let decoded = encoding == UInt8(ascii: "b") ? Base64.decode(text) : decodeQ(text)
        return Word(charset: Charset.normalize(charset), bytes: decoded, end: index + 2)
    }

    /// The "Q" encoding (RFC 2047 §4.2): quoted-printable-like, "_" is space.
    static func decodeQ(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "_") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "="), index + 2 < text.endIndex,
                      let high = QuotedPrintable.Decoder.hexValue(text[index + 1]),
                      let low = QuotedPrintable.Decoder.hexValue(text[index + 2]) {
                out.append(high << 4 | low)
                index += 2
            } else {
                out.append(byte)
            }
            index += 1
        }
        return out
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
    }

    /// Accumulates literal text and decoded words, joining adjacent words.
    private struct TextDecoder {
        var output = ""
        var literal: [UInt8] = []
        /// Bytes of the current run of words sharing one charset.
        var wordBytes: [UInt8] = []
        var wordCharset: String?
        /// White space after the last word: dropped if another word follows.
        var gap: [UInt8] = []

        mutating func appendWord(_ word: Word) {
            if let wordCharset, wordCharset != word.charset {
                flushWords()
            }
            if wordCharset == nil {
                flushLiteral()
                wordCharset = word.charset
            }
            gap.removeAll()
            wordBytes.append(contentsOf: word.bytes)
        }

        mutating func appendLiteral(_ byte: UInt8) {
            if wordCharset != nil {
                if isWhitespace(byte) {
                    gap.append(byte)
                    return
                }
                flushWords()
                literal.append(contentsOf: gap)
                gap.removeAll()
            }
            literal.append(byte)
        }

        mutating func flushLiteral() {
            guard !literal.isEmpty else { return }
            // `literal` holds whole UTF-8 sequences: it is cut only at ASCII bytes.
            output += String(decoding: literal, as: UTF8.self)
            literal.removeAll()
        }

        mutating func flushWords() {
            guard let charset = wordCharset else { return }
            output += Charset.decode(wordBytes, charset: charset)
            wordBytes.removeAll()
            wordCharset = nil
        }

        mutating func finish() -> String {
            flushWords()
            literal.append(contentsOf: gap)
            gap.removeAll()
            flushLiteral()
            return output
        }
    }
}
