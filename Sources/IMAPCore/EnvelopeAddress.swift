/// One address of an ENVELOPE address list (RFC 3501 §7.4.2):
/// addr-name, addr-adl (source route), addr-mailbox, addr-host. A group
/// is written as a start (mailbox = the group's name, host NIL) and an
/// end (all NIL). Texts are the header's octets: quotes removed, encoded
/// words left encoded (as Dovecot sends them; clients decode RFC 2047).
struct EnvelopeAddress: Equatable {
    var name: [UInt8]?
    var route: [UInt8]?
    var mailbox: [UInt8]?
    var host: [UInt8]?

    /// A host is never NIL for a real address (NIL marks a group), so a
    /// missing part gets Dovecot's placeholder.
    static let missingMailbox = Array("MISSING_MAILBOX".utf8)
    static let missingDomain = Array("MISSING_DOMAIN".utf8)

    static func groupStart(_ name: [UInt8]) -> EnvelopeAddress {
        EnvelopeAddress(name: nil, route: nil, mailbox: name, host: nil)
    }

    static let groupEnd = EnvelopeAddress(name: nil, route: nil, mailbox: nil, host: nil)

    /// address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
    var wire: [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "(")]
        for (index, field) in [name, route, mailbox, host].enumerated() {
            if index > 0 { out.append(UInt8(ascii: " ")) }
            out += IMAPWire.nstring(field)
        }
        out.append(UInt8(ascii: ")"))
        return out
    }

    /// "(" 1*address ")" / nil
    static func list(_ addresses: [EnvelopeAddress]) -> [UInt8] {
        guard !addresses.isEmpty else { return IMAPWire.nilAtom }
        return [UInt8(ascii: "(")] + addresses.flatMap(\.wire) + [UInt8(ascii: ")")]
    }
}

/// Reads an address-list (RFC 5322 §3.4, with the obsolete forms of §4.4:
/// source routes, empty list elements, comments and white space between
/// the pieces of an addr-spec). Never fails: what cannot be read is
/// skipped or shown with the placeholders, the way Dovecot does.
struct AddressListParser {
    private var tokens: [AddressToken]
    private var index = 0
    private var result: [EnvelopeAddress] = []

    /// Addresses kept from one field value; the rest are dropped.
    static let maxAddresses = 1000

    static func parse(_ value: some Collection<UInt8>) -> [EnvelopeAddress] {
        var parser = AddressListParser(tokens: AddressTokenizer.tokens(Array(value)))
        parser.addressList()
        return parser.result
    }

    private init(tokens: [AddressToken]) { self.tokens = tokens }

    private var current: AddressToken? { index < tokens.count ? tokens[index] : nil }

    private func isSpecial(_ byte: UInt8) -> Bool {
        if case .special(byte) = current?.kind { return true }
        return false
    }

    /// address-list = (address *("," address)); empty elements skipped.
    private mutating func addressList() {
        while current != nil, result.count < Self.maxAddresses {
            if isSpecial(UInt8(ascii: ",")) || isSpecial(UInt8(ascii: ";")) || isSpecial(UInt8(ascii: ">")) {
                index += 1
                continue
            }
            address(inGroup: false)
        }
    }

    /// address = mailbox / group; a phrase is read first, then what ends it
    /// says which: ":" a group, "<" an angle-addr, "@" an addr-spec.
    private mutating func address(inGroup: Bool) {
        let start = index
        let phrase = words()
        switch current?.kind {
        case .special(UInt8(ascii: ":")) where !inGroup:
            index += 1
            result.append(.groupStart(phrase.text))
            while current != nil, !isSpecial(UInt8(ascii: ";")), result.count < Self.maxAddresses {
                if isSpecial(UInt8(ascii: ",")) || isSpecial(UInt8(ascii: ":")) || isSpecial(UInt8(ascii: ">")) {
                    index += 1
                    continue
                }
                address(inGroup: true)
            }
            if isSpecial(UInt8(ascii: ";")) { index += 1 }
            result.append(.groupEnd)
        case .special(UInt8(ascii: "<")):
            index += 1
            var address = angleAddress()
            address.name = phrase.text.isEmpty ? comment(from: start) : phrase.text
            result.append(address)
        case .special(UInt8(ascii: "@")):
            index += 1
            let host = domain()
            let name = comment(from: start)
            result.append(EnvelopeAddress(name: name, route: nil,
                                          mailbox: phrase.compact.isEmpty ? EnvelopeAddress.missingMailbox : phrase.compact,
                                          host: host.isEmpty ? EnvelopeAddress.missingDomain : host))
            skipToEndOfAddress()
        case .special(UInt8(ascii: ":")):
            index += 1 // a group inside a group (not allowed): its name is dropped
        default:
            // A phrase alone: one word is a local part without a domain,
            // several are a name without an address.
            if phrase.count == 1 {
                result.append(EnvelopeAddress(name: comment(from: start), route: nil, mailbox: phrase.compact,
                                              host: EnvelopeAddress.missingDomain))
            } else if phrase.count > 1 {
                result.append(EnvelopeAddress(name: phrase.text, route: nil, mailbox: EnvelopeAddress.missingMailbox,
                                              host: EnvelopeAddress.missingDomain))
            }
            skipToEndOfAddress()
        }
    }

    /// angle-addr = "<" [obs-route] addr-spec ">"; obs-route = obs-domain-list ":"
    private mutating func angleAddress() -> EnvelopeAddress {
        var route: [UInt8]?
        if isSpecial(UInt8(ascii: "@")) {
            var text: [UInt8] = []
            while let token = current, !isSpecial(UInt8(ascii: ":")), !isSpecial(UInt8(ascii: ">")) {
                if case .comment = token.kind {} else { text += token.bytes }
                index += 1
            }
            if isSpecial(UInt8(ascii: ":")) {
                index += 1
                route = text
            }
        }
        let local = words().compact
        var host: [UInt8] = []
        if isSpecial(UInt8(ascii: "@")) {
            index += 1
            host = domain()
        }
        while current != nil, !isSpecial(UInt8(ascii: ">")), !isSpecial(UInt8(ascii: ",")) { index += 1 }
        if isSpecial(UInt8(ascii: ">")) { index += 1 }
        skipToEndOfAddress()
        return EnvelopeAddress(name: nil, route: route, mailbox: local.isEmpty ? EnvelopeAddress.missingMailbox : local,
                               host: host.isEmpty ? EnvelopeAddress.missingDomain : host)
    }

    /// Words (atoms, quoted strings, dots) up to a special; comments skipped.
    private mutating func words() -> Phrase {
        var phrase = Phrase()
        while let token = current {
            switch token.kind {
            case .comment:
                phrase.sawSpace = true
            case .word, .quoted, .special(UInt8(ascii: ".")):
                phrase.append(token)
            case .special, .domainLiteral:
                return phrase
            }
            index += 1
        }
        return phrase
    }

    /// domain = dot-atom / domain-literal, white space and comments between pieces ignored.
    private mutating func domain() -> [UInt8] {
        var host: [UInt8] = []
        while let token = current {
            switch token.kind {
            case .comment: break
            case .word, .quoted, .domainLiteral, .special(UInt8(ascii: ".")): host += token.bytes
            case .special: return host
            }
            index += 1
        }
        return host
    }

    /// Skips what is left of a malformed address, up to its separator.
    private mutating func skipToEndOfAddress() {
        while current != nil, !isSpecial(UInt8(ascii: ",")), !isSpecial(UInt8(ascii: ";")) { index += 1 }
    }

    /// The last non-empty comment since `start`: "addr@host (Name)" names the address.
    private func comment(from start: Int) -> [UInt8]? {
        var name: [UInt8]?
        for token in tokens[start..<min(index, tokens.count)] {
            if case .comment = token.kind, !token.bytes.isEmpty { name = token.bytes }
        }
        return name
    }
}

/// The words of a display name or local part, with where spaces were.
private struct Phrase {
    /// Words joined by single spaces where the header had white space:
    /// the display name ("Joe Q. Public").
    var text: [UInt8] = []
    /// Words joined with nothing between: a local part ("john.q.public").
    var compact: [UInt8] = []
    var count = 0
    var sawSpace = false

    mutating func append(_ token: AddressToken) {
        if (token.spaceBefore || sawSpace) && !text.isEmpty { text.append(UInt8(ascii: " ")) }
        text += token.bytes
        compact += token.bytes
        sawSpace = false
        if case .special = token.kind {} else { count += 1 }
    }
}

struct AddressToken: Equatable {
    enum Kind: Equatable {
        /// A run of atext (8-bit octets included, RFC 6532).
        case word
        /// A quoted string's content, unescaped.
        case quoted
        /// A comment's content, unescaped, nested parentheses kept.
        case comment
        /// "[...]" kept with its brackets.
        case domainLiteral
        case special(UInt8)
    }

    var kind: Kind
    var bytes: [UInt8]
    /// White space (or a line fold) came before it.
    var spaceBefore: Bool
}

/// Splits an unfolded header value into RFC 5322 §3.2 lexical tokens.
enum AddressTokenizer {
    static func tokens(_ bytes: [UInt8]) -> [AddressToken] {
        var tokens: [AddressToken] = []
        var index = 0
        var space = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                space = true
                index += 1
                continue
            case UInt8(ascii: "\""):
                let (content, end) = delimited(bytes, from: index + 1, close: UInt8(ascii: "\""), nests: false)
                tokens.append(AddressToken(kind: .quoted, bytes: content, spaceBefore: space))
                index = end
            case UInt8(ascii: "("):
                let (content, end) = delimited(bytes, from: index + 1, close: UInt8(ascii: ")"), nests: true)
                tokens.append(AddressToken(kind: .comment, bytes: content, spaceBefore: space))
                index = end
            case UInt8(ascii: "["):
                var end = index + 1
                while end < bytes.count, bytes[end] != UInt8(ascii: "]") { end += 1 }
                end = min(end + 1, bytes.count)
                tokens.append(AddressToken(kind: .domainLiteral, bytes: Array(bytes[index..<end]), spaceBefore: space))
                index = end
            case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "@"), UInt8(ascii: ","), UInt8(ascii: ";"),
                 UInt8(ascii: ":"), UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: ")"), UInt8(ascii: "]"):
                tokens.append(AddressToken(kind: .special(byte), bytes: [byte], spaceBefore: space))
                index += 1
            default:
                var end = index
                while end < bytes.count, isAtomText(bytes[end]) { end += 1 }
                end = max(end, index + 1) // a control octet is a word of its own
                tokens.append(AddressToken(kind: .word, bytes: Array(bytes[index..<end]), spaceBefore: space))
                index = end
            }
            space = false
        }
        return tokens
    }

    /// A quoted string or comment from just after its opening octet:
    /// content unescaped (quoted-pair, §3.2.1) and the index past the close.
    /// Comments nest (§3.2.2); an unclosed one runs to the end.
    static func delimited(_ bytes: [UInt8], from start: Int, close: UInt8, nests: Bool) -> ([UInt8], Int) {
        var content: [UInt8] = []
        var depth = 0
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\\"), index < bytes.count {
                content.append(bytes[index])
                index += 1
            } else if nests && byte == UInt8(ascii: "(") {
                depth += 1
                content.append(byte)
            } else if byte == close {
                if depth == 0 { return (content, index) }
                depth -= 1
                content.append(byte)
            } else if byte != UInt8(ascii: "\r") && byte != UInt8(ascii: "\n") {
                content.append(byte)
            }
        }
        return (content, index)
    }

    /// atext (RFC 5322 §3.2.3) and octets over 0x7F.
    static func isAtomText(_ byte: UInt8) -> Bool {
        if byte >= 0x80 { return true }
        guard byte > 0x20, byte < 0x7F else { return false }
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "["),
             UInt8(ascii: "]"), UInt8(ascii: ":"), UInt8(ascii: ";"), UInt8(ascii: "@"), UInt8(ascii: "\\"),
             UInt8(ascii: ","), UInt8(ascii: "."), UInt8(ascii: "\""):
            return false
        default:
            return true
        }
    }
}
