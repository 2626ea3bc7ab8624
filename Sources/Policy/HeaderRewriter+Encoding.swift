import Foundation
import MailMessage

/// Writing new values: RFC 2047 encoding and RFC 5322 folding.
extension HeaderRewriter {
    /// A new or changed field: line breaks and other controls turned into
    /// spaces (no header injection), words with non-ASCII text encoded
    /// (RFC 2047 §5), folded at white space (RFC 5322 §2.2.3).
    static func makeField(name: String, value: String) -> HeaderField {
        // Short enough that even the first word fits beside "Name: ".
        let wordLength = max(40, min(EncodedWordWriter.maxWordLength, preferredLineLength - name.utf8.count - 2))
        let encoded = EncodedWordWriter.encodeWords(withoutControls(value), maxWordLength: wordLength)
        return HeaderField(name: name, rawValue: fold(" " + encoded, nameLength: name.utf8.count))
    }

    /// A trace field we add (Received-SPF, Authentication-Results): ASCII
    /// text from us, quoted where it came from outside, so only cleaned of
    /// controls and folded, not encoded.
    static func makeTraceField(name: String, value: String) -> HeaderField {
        HeaderField(name: name, rawValue: fold(" " + withoutControls(value), nameLength: name.utf8.count))
    }

    /// Line breaks and other controls (TAB aside) become spaces, so a value
    /// can never start a new field or end the header section.
    static func withoutControls(_ value: String) -> String {
        var clean = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            clean.append(scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7F ? " " : scalar)
        }
        return String(clean)
    }

    /// Inserts CRLF before white space so that lines stay within 78 octets
    /// where possible. A line is never broken before its first word, so no
    /// line is white space only (RFC 5322 §3.2.2); a longer word stays whole.
    static func fold(_ value: String, nameLength: Int) -> String {
        var pieces: [Substring] = [] // leading white space + one word
        var start = value.startIndex
        var index = value.startIndex
        var inWord = false
        while index < value.endIndex {
            let isSpace = value[index] == " " || value[index] == "\t"
            if isSpace, inWord {
                pieces.append(value[start..<index])
                start = index
            }
            inWord = !isSpace
            index = value.index(after: index)
        }
        if start < value.endIndex { pieces.append(value[start...]) }

        var out = ""
        var lineLength = nameLength + 1 // "Name:"
        var lineHasWord = false
        for piece in pieces {
            let length = piece.utf8.count
            let hasWord = piece.contains { $0 != " " && $0 != "\t" }
            if lineHasWord, hasWord, lineLength + length > preferredLineLength,
               piece.first == " " || piece.first == "\t" {
                out += "\r\n"
                lineLength = 0
            }
            out += piece
            lineLength += length
            lineHasWord = lineHasWord || hasWord
        }
        return out
    }
}

/// Writes RFC 2047 encoded words: UTF-8, "B" encoding, which is safe in
/// phrases and unstructured text alike (§5).
enum EncodedWordWriter {
    /// Longest encoded word (RFC 2047 §2), "=?UTF-8?B?" and "?=" included.
    static let maxWordLength = 75
    static let overhead = "=?UTF-8?B??=".utf8.count

    /// `text` with each run of words that need it — non-ASCII, or looking
    /// like an encoded word — replaced by encoded words. The white space
    /// inside a run is encoded with it, since a decoder drops white space
    /// between adjacent encoded words (RFC 2047 §6.2).
    static func encodeWords(_ text: String, maxWordLength: Int = EncodedWordWriter.maxWordLength) -> String {
        guard text.unicodeScalars.contains(where: { !$0.isASCII }) || text.contains("=?") else { return text }
        var out = ""
        var run = ""
        var gap = ""
        var word = ""
        func endWord() {
            guard !word.isEmpty else { return }
            if !word.unicodeScalars.allSatisfy(\.isASCII) || word.contains("=?") {
                run += (run.isEmpty ? "" : gap) + word
            } else {
                if !run.isEmpty { out += encode(run, maxWordLength: maxWordLength) }
                out += gap + word
                run = ""
            }
            gap = ""
            word = ""
        }
        for character in text {
            if character == " " || character == "\t" {
                endWord()
                if run.isEmpty { out.append(character) } else { gap.append(character) }
            } else {
                word.append(character)
            }
        }
        endWord()
        if !run.isEmpty { out += encode(run, maxWordLength: maxWordLength) }
        return out + gap
    }

    /// `text` as "B" encoded words (RFC 2047 §4.1) separated by spaces,
    /// each within `maxWordLength` octets and holding whole characters (§5).
    static func encode(_ text: String, maxWordLength: Int = EncodedWordWriter.maxWordLength) -> String {
        let capacity = (maxWordLength - overhead) / 4 * 3 // octets per word
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if !chunk.isEmpty, chunk.count + bytes.count > capacity {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words.joined(separator: " ")
    }
}
