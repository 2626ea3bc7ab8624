import NIOCore

/// Parsers for the RFC 5321 §4.1.2 path grammar, extended for RFC 6531
/// (UTF-8 in atext, qtext and sub-domains). They work on the bytes of one
/// command line; `index` moves past what was consumed.
enum PathGrammar {
    static func isAlpha(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// atext (RFC 5322 §3.2.3) plus UTF8-non-ascii (RFC 6531 §3.3).
    static func isAtext(_ b: UInt8) -> Bool {
        if isAlpha(b) || isDigit(b) || b >= 0x80 { return true }
        switch b {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
             UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
             UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }


    enum Path {
        case null
        case postmaster
        case mailbox(Mailbox)
    }

    /// Path = "<" [ A-d-l ":" ] Mailbox ">"  /  "<>"  /  "<Postmaster>"
    static func parsePath(_ bytes: [UInt8], _ index: inout Int, kind: SMTPPathKind) throws(SMTPCommandError) -> Path {
        let start = index
        guard index < bytes.count, bytes[index] == UInt8(ascii: "<") else {
            throw .badPath("path must be enclosed in <>", kind)
        }
        index += 1
        if index < bytes.count, bytes[index] == UInt8(ascii: ">") {
            index += 1
            guard kind == .reverse else { throw .badPath("empty forward-path", kind) }
            return .null
        }
        // A-d-l = At-domain *( "," At-domain ): source routes, accepted and ignored (§4.1.2, §C).
        if index < bytes.count, bytes[index] == UInt8(ascii: "@") {
            while true {
                index += 1
                _ = try parseDomain(bytes, &index, kind: kind, allowLiteral: false)
                guard index < bytes.count else { throw .badPath("unterminated source route", kind) }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "@") else {
                        throw .badPath("bad source route", kind)
                    }
                    continue
                }
                guard bytes[index] == UInt8(ascii: ":") else { throw .badPath("bad source route", kind) }
                index += 1
                break
            }
        }
        let localPart = try parseLocalPart(bytes, &index, kind: kind)
        if kind == .forward, index < bytes.count, bytes[index] == UInt8(ascii: ">"),
           localPart.lowercased() == "postmaster" {
            index += 1
            return .postmaster
        }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "@") else {
            throw .badPath("address must be local-part@domain", kind)
        }
        index += 1
        let domain = try parseDomain(bytes, &index, kind: kind, allowLiteral: true)
        guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else {
            throw .badPath("unexpected character in address", kind)
        }
        index += 1
        // §4.5.3.1: local-part 64, domain 255, path 256 octets.
        guard localPart.utf8.count <= 64 else { throw .badPath("local part longer than 64 octets", kind) }
        guard index - start <= 256 else { throw .badPath("path longer than 256 octets", kind) }
        return .mailbox(Mailbox(localPart: localPart, domain: domain))
    }

    /// Local-part = Dot-string / Quoted-string
    static func parseLocalPart(_ bytes: [UInt8], _ index: inout Int, kind: SMTPPathKind) throws(SMTPCommandError) -> String {
        guard index < bytes.count else { throw .badPath("missing local part", kind) }
        if bytes[index] == UInt8(ascii: "\"") {
            return try parseQuotedString(bytes, &index, kind: kind)
        }
        // Dot-string = Atom *("." Atom)
        let start = index
        var atomLength = 0
        while index < bytes.count {
            let b = bytes[index]
            if isAtext(b) {
                atomLength += 1
            } else if b == UInt8(ascii: ".") {
                guard atomLength > 0 else { throw .badPath("empty atom in local part", kind) }
                atomLength = 0
            } else {
                break
            }
            index += 1
        }
        guard atomLength > 0 else { throw .badPath("bad local part", kind) }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// Quoted-string = DQUOTE *QcontentSMTP DQUOTE; quoted-pairSMTP = "\" %d32-126
    static func parseQuotedString(_ bytes: [UInt8], _ index: inout Int, kind: SMTPPathKind) throws(SMTPCommandError) -> String {
        index += 1
        var content: [UInt8] = []
        while index < bytes.count {
            let b = bytes[index]
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                guard !content.isEmpty else { throw .badPath("empty quoted local part", kind) }
                return String(decoding: content, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count, (32...126).contains(bytes[index + 1]) else {
                    throw .badPath("bad quoted pair", kind)
                }
                content.append(bytes[index + 1])
                index += 2
            case 32...126, 0x80...0xFF:
                content.append(b)
                index += 1
            default:
                throw .badPath("control character in quoted string", kind)
            }
        }
        throw .badPath("unterminated quoted string", kind)
    }

    /// Domain / address-literal (§4.1.3).
    static func parseDomain(_ bytes: [UInt8], _ index: inout Int, kind: SMTPPathKind, allowLiteral: Bool) throws(SMTPCommandError) -> MailDomain {
        guard index < bytes.count else { throw .badPath("missing domain", kind) }
        if bytes[index] == UInt8(ascii: "[") {
            guard allowLiteral else { throw .badPath("address literal not allowed here", kind) }
            return try parseAddressLiteral(bytes, &index, kind: kind)
        }
        let start = index
        var labelLength = 0
        var lastWasHyphen = false
        while index < bytes.count {
            let b = bytes[index]
            if isAlpha(b) || isDigit(b) || b >= 0x80 {
                labelLength += 1
                lastWasHyphen = false
            } else if b == UInt8(ascii: "-") {
                guard labelLength > 0 else { throw .badPath("domain label starts with '-'", kind) }
                labelLength += 1
                lastWasHyphen = true
            } else if b == UInt8(ascii: ".") {
                guard labelLength > 0, !lastWasHyphen else { throw .badPath("bad domain label", kind) }
                labelLength = 0
            } else {
                break
            }
            guard labelLength <= 63 else { throw .badPath("domain label longer than 63 octets", kind) }
            index += 1
        }
        // One trailing dot ("example.com.", the absolute form) is taken and
        // dropped, as Postfix does, so policy compares the same name.
        var end = index
        if labelLength == 0, !lastWasHyphen, index - start > 1, bytes[index - 1] == UInt8(ascii: "."),
           bytes[index - 2] != UInt8(ascii: ".") {
            end -= 1
            labelLength = 1
        }
        guard labelLength > 0, !lastWasHyphen else { throw .badPath("bad domain", kind) }
        guard end - start <= 255 else { throw .badPath("domain longer than 255 octets", kind) }
        return .name(String(decoding: bytes[start..<end], as: UTF8.self))
    }

    /// address-literal = "[" ( IPv4 / "IPv6:" IPv6 / tag ":" dcontent ) "]"
    static func parseAddressLiteral(_ bytes: [UInt8], _ index: inout Int, kind: SMTPPathKind) throws(SMTPCommandError) -> MailDomain {
        index += 1
        let start = index
        while index < bytes.count, bytes[index] != UInt8(ascii: "]") {
            // dcontent = %d33-90 / %d94-126
            guard (33...90).contains(bytes[index]) || (94...126).contains(bytes[index]) else {
                throw .badPath("bad character in address literal", kind)
            }
            index += 1
        }
        guard index < bytes.count else { throw .badPath("unterminated address literal", kind) }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        index += 1
        if let colon = text.firstIndex(of: ":") {
            let tag = text[..<colon]
            let rest = String(text[text.index(after: colon)...])
            if tag.lowercased() == "ipv6" {
                guard rest.contains(":"), (try? SocketAddress(ipAddress: rest, port: 0)) != nil else {
                    throw .badPath("bad IPv6 address literal", kind)
                }
                return .literal("IPv6:" + rest)
            }
            // General-address-literal: Standardized-tag = Ldh-str (§4.1.3).
            guard !tag.isEmpty, !rest.isEmpty,
                  tag.utf8.allSatisfy({ isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "-") }) else {
                throw .badPath("bad address literal", kind)
            }
            return .literal(text)
        }
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ $0.count <= 3 && UInt8($0) != nil }) else {
            throw .badPath("bad IPv4 address literal", kind)
        }
        return .literal(text)
    }
}
