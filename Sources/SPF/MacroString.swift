/// A parsed `macro-string` or `explain-string`
/// ([RFC 7208 §7.1](https://www.rfc-editor.org/rfc/rfc7208#section-7.1)).
///
/// ```
/// macro-string  = *( macro-expand / macro-literal )
/// macro-expand  = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"
/// macro-literal = %x21-24 / %x26-7E ; visible characters except "%"
/// transformers  = *DIGIT [ "r" ]
/// delimiter     = "." / "-" / "+" / "," / "/" / "_" / "="
/// explain-string = *( macro-string / SP )
/// ```
struct MacroString: Sendable, Hashable {
    var tokens: [MacroToken]

    /// True when the last token is a macro expansion (`%{…}`, `%%`, `%_` or `%-`): a
    /// `domain-spec` may end that way instead of with a top label.
    var endsWithExpansion: Bool {
        if case .literal = tokens.last { return false }
        return !tokens.isEmpty
    }

    /// The literal text after the last expansion.
    var trailingLiteral: String {
        var text = ""
        for token in tokens.reversed() {
            guard case .literal(let literal) = token else { break }
            text = literal + text
        }
        return text
    }

    /// True when expanding needs the validated domain name of the client (`%{p}`),
    /// which costs DNS look-ups.
    var usesValidatedDomain: Bool {
        tokens.contains { if case .expansion(let macro) = $0 { macro.letter == .validatedDomain } else { false } }
    }
}

enum MacroToken: Sendable, Hashable {
    /// Visible characters copied as they are.
    case literal(String)
    /// `%%`, `%_` or `%-`, with the text each stands for (`%`, a space, `%20`). Kept
    /// apart from literals because a domain-spec may end in one, as in a macro-expand.
    case escape(String)
    case expansion(MacroExpansion)
}

/// One `%{…}` expansion.
struct MacroExpansion: Sendable, Hashable {
    var letter: MacroLetter
    /// Keep this many right-hand parts (`%{d2}`); `nil` keeps all.
    var rightmostParts: Int?
    /// `r`: reverse the parts before keeping the right-hand ones.
    var reversed: Bool
    /// Split on these characters; `.` when none are given.
    var delimiters: [Character]
    /// Upper-case letter: URL-escape the result (§7.3).
    var urlEscaped: Bool
}

/// The macro letters of RFC 7208 §7.2.
enum MacroLetter: Character, Sendable, Hashable {
    case sender = "s"
    case localPart = "l"
    case senderDomain = "o"
    case domain = "d"
    case ip = "i"
    case validatedDomain = "p"
    case version = "v"
    case helo = "h"
    /// `c`, `r` and `t` are allowed only in explanation text.
    case clientIP = "c"
    case receivingHost = "r"
    case timestamp = "t"

    var isExplanationOnly: Bool { self == .clientIP || self == .receivingHost || self == .timestamp }
}

/// Where a macro string appears, which decides what it may contain.
enum MacroStringKind {
    /// A `domain-spec` (mechanism targets, `redirect=`, `exp=`): no `c`, `r`, `t`.
    case domainSpec
    /// The value of an unknown modifier: syntax only, never expanded.
    case modifierValue
    /// The TXT record named by `exp=`: spaces and `c`, `r`, `t` allowed.
    case explanation
}

struct MacroSyntaxError: Error, Sendable, Hashable {
    var message: String
}

extension MacroString {
    /// Parses `text` as a macro string of `kind`.
    static func parse(_ text: String, kind: MacroStringKind) throws(MacroSyntaxError) -> MacroString {
        var tokens: [MacroToken] = []
        var literal = ""
        var characters = text.unicodeScalars.makeIterator()
        func flush() {
            if !literal.isEmpty { tokens.append(.literal(literal)) }
            literal = ""
        }
        while let scalar = characters.next() {
            if scalar == "%" {
                guard let next = characters.next() else { throw MacroSyntaxError(message: "'%' at end of \"\(text)\"") }
                flush()
                switch next {
                case "%": tokens.append(.escape("%"))
                case "_": tokens.append(.escape(" "))
                case "-": tokens.append(.escape("%20"))
                case "{": tokens.append(.expansion(try parseExpansion(&characters, kind: kind, in: text)))
                default: throw MacroSyntaxError(message: "'%\(next)' is not a macro in \"\(text)\"")
                }
                continue
            }
            let allowed = (0x21...0x7E).contains(scalar.value) || (kind == .explanation && scalar == " ")
            guard allowed else {
                let code = String(scalar.value, radix: 16, uppercase: true)
                throw MacroSyntaxError(message: "character U+\(code) not allowed in \"\(text)\"")
            }
            literal.unicodeScalars.append(scalar)
        }
        flush()
        return MacroString(tokens: tokens)
    }

    // macro-expand = "%{" macro-letter transformers *delimiter "}"
    private static func parseExpansion(
        _ characters: inout String.UnicodeScalarView.Iterator, kind: MacroStringKind, in text: String
    ) throws(MacroSyntaxError) -> MacroExpansion {
        guard let letterScalar = characters.next(),
              let letter = MacroLetter(rawValue: Character(String(letterScalar).lowercased()))
        else { throw MacroSyntaxError(message: "unknown macro letter in \"\(text)\"") }
        if kind == .domainSpec && letter.isExplanationOnly {
            throw MacroSyntaxError(message: "macro '\(letter.rawValue)' is allowed only in explanations: \"\(text)\"")
        }
        let urlEscaped = letterScalar.properties.isUppercase
        var digits = ""
        var reversed = false
        var delimiters: [Character] = []
        while let scalar = characters.next() {
            switch scalar {
            case "}":
                var parts: Int?
                if !digits.isEmpty {
                    let significant = digits.drop { $0 == "0" }
                    guard !significant.isEmpty else {
                        throw MacroSyntaxError(message: "macro part count must be at least 1 in \"\(text)\"")
                    }
                    parts = significant.count > 9 ? Int.max : Int(significant)
                }
                return MacroExpansion(
                    letter: letter, rightmostParts: parts, reversed: reversed,
                    delimiters: delimiters, urlEscaped: urlEscaped)
            case "0"..."9" where !reversed && delimiters.isEmpty:
                digits.unicodeScalars.append(scalar)
            case "r" where !reversed && delimiters.isEmpty, "R" where !reversed && delimiters.isEmpty:
                reversed = true
            case ".", "-", "+", ",", "/", "_", "=":
                delimiters.append(Character(scalar))
            default:
                throw MacroSyntaxError(message: "bad macro transformer '\(scalar)' in \"\(text)\"")
            }
        }
        throw MacroSyntaxError(message: "unterminated macro in \"\(text)\"")
    }
}
