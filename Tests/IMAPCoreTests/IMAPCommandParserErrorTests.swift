import Testing
@testable import IMAPCore

@Suite("IMAP command parser: hostile and broken commands")
struct IMAPCommandParserErrorTests {
    typealias Reason = IMAPParseError.Reason

    static let deepSearch = "a SEARCH " + String(repeating: "(", count: 17) + "SEEN" + String(repeating: ")", count: 17)
    static let deepNot = "a SEARCH " + String(repeating: "NOT ", count: 17) + "SEEN"
    static let manyKeys = "a SEARCH " + Array(repeating: "SEEN", count: 257).joined(separator: " ")
    static let manyAttributes = "a FETCH 1 (" + Array(repeating: "UID", count: 257).joined(separator: " ") + ")"

    static let untagged: [(String, Reason)] = [
        ("", .emptyLine),
        ("+ NOOP", .invalidTag),
        ("a+b NOOP", .invalidTag),
        ("a*b NOOP", .invalidTag),
        ("a%b NOOP", .invalidTag),
        ("a\"b NOOP", .invalidTag),
        ("(a NOOP", .invalidTag),
        ("a{1} NOOP", .invalidTag),
        ("a\u{0}b NOOP", .invalidTag),
        ("\u{e9}t\u{e9} NOOP", .invalidTag),
        (" NOOP", .invalidTag),
    ]

    static let tagged: [(String, Reason)] = [
        ("a", .expected("SP")),
        ("a ", .expected("command")),
        ("a  NOOP", .expected("command")),
        ("a FROB", .unknownCommand("FROB")),
        ("a GET / HTTP/1.1", .unknownCommand("GET")),
        ("a NOOP extra", .unexpectedTrailingData),
        ("a NOOP ", .unexpectedTrailingData),
        ("a LOGIN", .syntax("LOGIN user password")),
        ("a LOGIN alice", .syntax("LOGIN user password")),
        ("a LOGIN alice ", .expected("password")),
        ("a LOGIN \"al\u{0}ice\" pw", .invalidQuotedString),
        ("a LOGIN \"alice pw", .invalidQuotedString),
        ("a LOGIN \"al\\ice\" pw", .invalidQuotedString),
        ("a LOGIN \"al\rice\" pw", .invalidQuotedString),
        ("a LOGIN {-1}", .invalidLiteral),
        ("a LOGIN {}\r\n", .invalidLiteral),
        ("a LOGIN {4294967296}\r\nx", .invalidLiteral),
        ("a LOGIN {10}\r\nshort", .invalidLiteral),
        ("a LOGIN {5}alice pw", .invalidLiteral),
        ("a LOGIN {3}\r\na\u{0}b pw", .invalidLiteral),
        ("a AUTHENTICATE", .syntax("AUTHENTICATE mechanism [initial-response]")),
        ("a AUTHENTICATE PLAIN !!", .expected("base64 initial response")),
        ("a ID", .syntax("ID NIL or ID (\"name\" \"value\" ...)")),
        ("a ID (\"name\")", .expected("SP")),
        ("a ID FOO", .expected("NIL or list")),
        ("a SELECT", .syntax("SELECT mailbox")),
        ("a EXAMINE", .syntax("EXAMINE mailbox")),
        ("a UID FETCH 1", .syntax("FETCH sequence-set attributes")),
        ("a UID STORE 1 FLAGS", .syntax("STORE sequence-set [+|-]FLAGS[.SILENT] (flags)")),
        ("a SELECT (x)", .expected("mailbox")),
        ("a LIST \"\"", .syntax("LIST [(options)] reference pattern [RETURN (options)]")),
        ("a STATUS INBOX", .syntax("STATUS mailbox (MESSAGES|RECENT|UIDNEXT|UIDVALIDITY|UNSEEN ...)")),
        ("a STATUS INBOX (SIZE)", .syntax("STATUS mailbox (MESSAGES|RECENT|UIDNEXT|UIDVALIDITY|UNSEEN ...)")),
        ("a STATUS INBOX (MESSAGES", .expected("\")\" after status attributes")),
        ("a FETCH", .syntax("FETCH sequence-set attributes")),
        ("a FETCH 1", .syntax("FETCH sequence-set attributes")),
        ("a FETCH 0 FLAGS", .invalidNumber),
        ("a FETCH 1:0 FLAGS", .invalidNumber),
        ("a FETCH 4294967296 FLAGS", .invalidNumber),
        ("a FETCH 99999999999999999999999 FLAGS", .invalidNumber),
        ("a FETCH -1 FLAGS", .expected("sequence set")),
        ("a FETCH 1, FLAGS", .expected("sequence set")),
        ("a FETCH 1: FLAGS", .expected("sequence set")),
        ("a FETCH 1 FROB", .expected("fetch attribute, not FROB")),
        ("a FETCH 1 (FLAGS", .expected("\")\" after fetch attributes")),
        ("a FETCH 1 ()", .expected("fetch attribute")),
        ("a FETCH 1 BODY.PEEK", .expected("section after BODY.PEEK")),
        ("a FETCH 1 BODY[0]", .invalidNumber),
        ("a FETCH 1 BODY[MIME]", .expected("section HEADER, HEADER.FIELDS, TEXT or MIME")),
        ("a FETCH 1 BODY[1.]", .expected("section HEADER, HEADER.FIELDS, TEXT or MIME")),
        ("a FETCH 1 BODY[HEADER.FIELDS]", .expected("SP")),
        ("a FETCH 1 BODY[HEADER.FIELDS ()]", .expected("header field name")),
        ("a FETCH 1 BODY[TEXT", .expected("\"]\" after section")),
        ("a FETCH 1 BODY[]<0.0>", .invalidNumber),
        ("a FETCH 1 BODY[]<5>", .expected("\".\" in partial")),
        ("a STORE 1 FLAGS", .syntax("STORE sequence-set [+|-]FLAGS[.SILENT] (flags)")),
        ("a STORE 1 LABELS (x)", .syntax("STORE sequence-set [+|-]FLAGS[.SILENT] (flags)")),
        ("a STORE 1 +FLAGS (\\Recent)", .expected("flag other than \\Recent")),
        ("a STORE 1 +FLAGS (\\Seen", .expected("\")\" after flags")),
        ("a COPY 1", .syntax("COPY sequence-set mailbox")),
        ("a UID", .expected("SP")),
        ("a UID NOOP", .syntax("UID FETCH|SEARCH|STORE|COPY|MOVE|EXPUNGE ...")),
        ("a UID EXPUNGE", .expected("SP")),
        ("a SEARCH", .expected("SP")),
        ("a SEARCH FROB", .expected("search key, not FROB")),
        ("a SEARCH FROM", .expected("SP")),
        ("a SEARCH HEADER Subject", .expected("SP")),
        ("a SEARCH SINCE 32-Jan-2020", .invalidDate),
        ("a SEARCH SINCE 0-Jan-2020", .invalidDate),
        ("a SEARCH SINCE 1-Foo-2020", .invalidDate),
        ("a SEARCH SINCE 1-Jan-20", .invalidDate),
        ("a SEARCH SINCE 2020-01-01", .invalidDate),
        ("a SEARCH SINCE \"1-Jan-2020", .expected("closing quote after date")),
        ("a SEARCH LARGER x", .expected("number")),
        ("a SEARCH LARGER 4294967296", .invalidNumber),
        ("a SEARCH OR SEEN", .expected("SP")),
        ("a SEARCH (SEEN", .expected("\")\" after search keys")),
        ("a SEARCH SEEN  UNSEEN", .expected("search key")),
        (deepSearch, .nestingTooDeep),
        (deepNot, .nestingTooDeep),
        (manyKeys, .tooManyItems),
        (manyAttributes, .tooManyItems),
    ]

    @Test("refused without a tag", arguments: untagged)
    func untaggedErrors(line: String, reason: Reason) {
        #expect(throws: IMAPParseError(tag: nil, reason: reason)) { try parse(line) }
    }

    @Test("refused with the tag", arguments: tagged)
    func taggedErrors(line: String, reason: Reason) {
        #expect(throws: IMAPParseError(tag: "a", reason: reason)) { try parse(line) }
    }

    @Test func textMustBeUTF8() {
        let login = Array("a LOGIN {2}\r\n".utf8) + [0xFF, 0xFE] + Array(" pw".utf8)
        #expect(throws: IMAPParseError(tag: "a", reason: .invalidUTF8)) { try IMAPCommandParser.parse(login) }
        let search = Array("a SEARCH SUBJECT \"".utf8) + [0xC3, 0x28] + Array("\"".utf8)
        #expect(throws: IMAPParseError(tag: "a", reason: .invalidUTF8)) { try IMAPCommandParser.parse(search) }
        // A password is bytes: it is not required to be UTF-8.
        let password = Array("a LOGIN alice {2}\r\n".utf8) + [0xFF, 0xFE]
        #expect((try? IMAPCommandParser.parse(password)) == TaggedCommand(tag: "a", command: .login(username: "alice", password: SecretBytes([0xFF, 0xFE]))))
    }

    @Test func limitsAreConfigurable() throws {
        let strict = IMAPLimits(maxNestingDepth: 2, maxListItems: 3)
        #expect(throws: IMAPParseError(tag: "a", reason: .nestingTooDeep)) {
            try IMAPCommandParser.parse(Array("a SEARCH NOT NOT NOT SEEN".utf8), limits: strict)
        }
        #expect(throws: IMAPParseError(tag: "a", reason: .tooManyItems)) {
            try IMAPCommandParser.parse(Array("a FETCH 1 (UID FLAGS ENVELOPE RFC822.SIZE)".utf8), limits: strict)
        }
        _ = try IMAPCommandParser.parse(Array("a SEARCH NOT NOT SEEN".utf8), limits: strict)
    }

    @Test func errorTextIsShort() {
        let reasons = Self.tagged.map(\.1) + [.unknownCommand(String(repeating: "X", count: 5000))]
        for reason in reasons {
            #expect(reason.text.utf8.count < 100)
        }
    }

    /// Every prefix of every valid command and a few byte flips must parse or
    /// throw, never trap.
    @Test func prefixesAndMutationsNeverTrap() {
        let lines = (IMAPCommandParserTests.simple + IMAPCommandParserTests.searches).map(\.0) + Self.tagged.map(\.0)
        for line in lines {
            let bytes = Array(line.utf8)
            for end in 0...bytes.count {
                _ = try? IMAPCommandParser.parse(Array(bytes[..<end]))
            }
            for position in stride(from: 0, to: bytes.count, by: 3) {
                for replacement: UInt8 in [0, 0x0A, 0x22, 0x28, 0x29, 0x2A, 0x30, 0x5C, 0x7B, 0x7D, 0xFF] {
                    var mutated = bytes
                    mutated[position] = replacement
                    _ = try? IMAPCommandParser.parse(mutated)
                }
            }
        }
    }
}
