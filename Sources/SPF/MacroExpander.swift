import DNSModel

/// The values macros expand to ([RFC 7208 §7.2](https://www.rfc-editor.org/rfc/rfc7208#section-7.2)).
struct MacroContext: Sendable {
    var sender: SPFSender
    /// `<domain>`: the domain whose record is being evaluated (changes on include/redirect).
    var domain: String
    var ip: IPAddress
    var helo: String
    /// `%{p}`, already resolved by the evaluator when the string uses it; "unknown" otherwise.
    var validatedDomain: String = "unknown"
    /// `%{r}`: the receiving host's name.
    var receivingHost: String
    /// `%{t}`: seconds since the epoch.
    var timestamp: Int64
}

/// Expands parsed macro strings (§7.3). Pure: `%{p}` must be resolved beforehand.
enum MacroExpander {
    static func expand(_ string: MacroString, in context: MacroContext) -> String {
        var output = ""
        for token in string.tokens {
            switch token {
            case .literal(let text), .escape(let text):
                output += text
            case .expansion(let macro):
                output += expand(macro, in: context)
            }
        }
        return output
    }

    static func expand(_ macro: MacroExpansion, in context: MacroContext) -> String {
        let value = self.value(of: macro.letter, in: context)
        let delimiters: [Character] = macro.delimiters.isEmpty ? ["."] : macro.delimiters
        var parts = value.split(omittingEmptySubsequences: false, whereSeparator: delimiters.contains).map(String.init)
        if macro.reversed { parts.reverse() }
        if let keep = macro.rightmostParts, keep < parts.count { parts = Array(parts.suffix(keep)) }
        let joined = parts.joined(separator: ".")
        return macro.urlEscaped ? urlEscape(joined) : joined
    }

    static func value(of letter: MacroLetter, in context: MacroContext) -> String {
        switch letter {
        case .sender: return context.sender.description
        case .localPart: return context.sender.localPart
        case .senderDomain: return context.sender.domain
        case .domain: return context.domain
        case .ip:
            // IPv6 is written as dot-separated nibbles, as in RFC 7208 §7.4's examples.
            switch context.ip {
            case .v4(let address): return address.description
            case .v6(let address):
                return address.nibbles.map { String($0, radix: 16, uppercase: true) }.joined(separator: ".")
            }
        case .validatedDomain: return context.validatedDomain
        case .version:
            if case .v4 = context.ip { return "in-addr" }
            return "ip6"
        case .helo: return context.helo
        case .clientIP: return context.ip.description
        case .receivingHost: return context.receivingHost
        case .timestamp: return String(context.timestamp)
        }
    }

    /// Escapes every octet outside `unreserved` (RFC 3986: ALPHA / DIGIT / "-" / "." /
    /// "_" / "~") as `%XX`, for upper-case macro letters.
    static func urlEscape(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                output += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return output
    }
}
