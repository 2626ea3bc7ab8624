/// Parses one command line (without its CRLF) into an `SMTPCommand`.
/// Verbs are case-insensitive (RFC 5321 §2.4).
public enum CommandParser {
    private static let httpVerbs: Set<String> = ["GET", "POST", "PUT", "HEAD", "CONNECT", "OPTIONS", "DELETE", "PATCH", "TRACE"]

    public static func parse(_ line: some Collection<UInt8>) throws(SMTPCommandError) -> SMTPCommand {
        let bytes = Array(line)
        // NUL and other C0 controls but TAB have no place in a command line.
        guard !bytes.contains(where: { $0 < 0x20 && $0 != 0x09 || $0 == 0x7F }) else { throw .malformedLine }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw .malformedLine }
        var verbEnd = 0
        while verbEnd < bytes.count, bytes[verbEnd] != UInt8(ascii: " ") { verbEnd += 1 }
        let verb = String(decoding: bytes[0..<verbEnd], as: UTF8.self).uppercased()
        var argStart = verbEnd
        if argStart < bytes.count { argStart += 1 }
        let rest = Array(bytes[argStart...])
        let argument = String(decoding: rest, as: UTF8.self).trimmingSpaces()

        switch verb {
        case "HELO":
            return .helo(try domainArgument(argument, usage: "HELO hostname"))
        case "EHLO":
            return .ehlo(try domainArgument(argument, usage: "EHLO hostname"))
        case "MAIL":
            return try parseMail(rest)
        case "RCPT":
            return try parseRcpt(rest)
        case "DATA":
            guard argument.isEmpty else { throw .syntax("DATA (no arguments)") }
            return .data
        case "BDAT":
            return try parseBdat(argument)
        case "RSET":
            guard argument.isEmpty else { throw .syntax("RSET (no arguments)") }
            return .rset
        case "NOOP":
            return .noop // §4.1.1.9: the parameter is ignored
        case "QUIT":
            guard argument.isEmpty else { throw .syntax("QUIT (no arguments)") }
            return .quit
        case "VRFY":
            guard !argument.isEmpty else { throw .syntax("VRFY address") }
            return .vrfy(argument)
        case "EXPN":
            guard !argument.isEmpty else { throw .syntax("EXPN list") }
            return .expn(argument)
        case "HELP":
            return .help(argument.isEmpty ? nil : argument)
        case "STARTTLS":
            guard argument.isEmpty else { throw .syntax("STARTTLS (no arguments)") }
            return .startTLS
        case "AUTH":
            let words = argument.split(separator: " ", omittingEmptySubsequences: true)
            guard (1...2).contains(words.count) else { throw .syntax("AUTH mechanism [initial-response]") }
            return .auth(mechanism: words[0].uppercased(), initialResponse: words.count == 2 ? String(words[1]) : nil)
        default:
            if httpVerbs.contains(verb) { throw .httpRequest }
            throw .unrecognized(verb)
        }
    }

    /// HELO/EHLO take a domain or address literal; we accept any single
    /// printable word, as real clients send odd names, but never an empty one.
    private static func domainArgument(_ argument: String, usage: String) throws(SMTPCommandError) -> String {
        // utf8, not Characters: grapheme breaking cost 5 k instructions an EHLO (issue #15).
        guard !argument.isEmpty, !argument.utf8.contains(UInt8(ascii: " ")), argument.utf8.count <= 255 else { throw .syntax(usage) }
        return argument
    }

    /// "MAIL FROM:" Reverse-path [SP Mail-parameters]
    private static func parseMail(_ rest: [UInt8]) throws(SMTPCommandError) -> SMTPCommand {
        var index = try expectKeyword("FROM:", in: rest, usage: "MAIL FROM:<address> [parameters]")
        let path = try PathGrammar.parsePath(rest, &index, kind: .reverse)
        let params = try parseParameters(rest, &index)
        switch path {
        case .null: return .mail(.null, params)
        case .mailbox(let mailbox): return .mail(.mailbox(mailbox), params)
        case .postmaster: throw .badPath("bad address", .reverse)
        }
    }

    /// "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]
    private static func parseRcpt(_ rest: [UInt8]) throws(SMTPCommandError) -> SMTPCommand {
        var index = try expectKeyword("TO:", in: rest, usage: "RCPT TO:<address> [parameters]")
        let path = try PathGrammar.parsePath(rest, &index, kind: .forward)
        let params = try parseParameters(rest, &index)
        switch path {
        case .postmaster: return .rcpt(.postmaster, params)
        case .mailbox(let mailbox): return .rcpt(.mailbox(mailbox), params)
        case .null: throw .badPath("empty forward-path", .forward)
        }
    }

    /// Matches "FROM:"/"TO:" case-insensitively, then skips spaces that many
    /// clients put after the colon (tolerated, as Postfix does).
    private static func expectKeyword(_ keyword: String, in rest: [UInt8], usage: String) throws(SMTPCommandError) -> Int {
        let expected = Array(keyword.utf8)
        guard rest.count >= expected.count,
              zip(rest, expected).allSatisfy({ PathGrammar.isAlpha($0) ? ($0 | 0x20) == ($1 | 0x20) : $0 == $1 }) else {
            throw .syntax(usage)
        }
        var index = expected.count
        while index < rest.count, rest[index] == UInt8(ascii: " ") { index += 1 }
        return index
    }

    /// Mail-parameters = esmtp-param *(SP esmtp-param)
    /// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
    /// esmtp-value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii)   (RFC 6531 §3.3)
    static func parseParameters(_ bytes: [UInt8], _ index: inout Int) throws(SMTPCommandError) -> [ESMTPParameter] {
        var params: [ESMTPParameter] = []
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: " ") else { throw .syntax("parameters must follow the address after a space") }
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
            if index == bytes.count { break }
            let keywordStart = index
            while index < bytes.count, PathGrammar.isAlpha(bytes[index]) || PathGrammar.isDigit(bytes[index])
                    || (index > keywordStart && bytes[index] == UInt8(ascii: "-")) {
                index += 1
            }
            guard index > keywordStart else { throw .syntax("bad parameter keyword") }
            let keyword = String(decoding: bytes[keywordStart..<index], as: UTF8.self).uppercased()
            var value: String?
            if index < bytes.count, bytes[index] == UInt8(ascii: "=") {
                index += 1
                let valueStart = index
                while index < bytes.count, bytes[index] != UInt8(ascii: " ") {
                    let b = bytes[index]
                    guard (33...60).contains(b) || (62...126).contains(b) || b >= 0x80 else {
                        throw .syntax("bad value for parameter \(keyword)")
                    }
                    index += 1
                }
                guard index > valueStart else { throw .syntax("empty value for parameter \(keyword)") }
                value = String(decoding: bytes[valueStart..<index], as: UTF8.self)
            }
            guard index == bytes.count || bytes[index] == UInt8(ascii: " ") else {
                throw .syntax("bad parameter \(keyword)")
            }
            params.append(ESMTPParameter(keyword: keyword, value: value))
        }
        return params
    }

    /// bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]   (RFC 3030 §2)
    private static func parseBdat(_ argument: String) throws(SMTPCommandError) -> SMTPCommand {
        let words = argument.split(separator: " ", omittingEmptySubsequences: true)
        guard (1...2).contains(words.count), words[0].utf8.count <= 18,
              words[0].utf8.allSatisfy(PathGrammar.isDigit), let size = Int(words[0]) else {
            throw .badChunkSize
        }
        if words.count == 2 {
            guard words[1].uppercased() == "LAST" else { throw .badChunkSize }
            return .bdat(size: size, last: true)
        }
        return .bdat(size: size, last: false)
    }
}

extension String {
    func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return String(scalars[first...last])
    }
}
