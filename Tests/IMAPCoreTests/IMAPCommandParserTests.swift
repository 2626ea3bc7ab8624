import NIOCore
import Testing
@testable import IMAPCore

func parse(_ line: String) throws(IMAPParseError) -> TaggedCommand {
    try IMAPCommandParser.parse(Array(line.utf8))
}

func set(_ ranges: SequenceRange...) -> SequenceSet { SequenceSet(ranges) }
func n(_ value: UInt32) -> SequenceNumber { .number(value) }
func date(_ year: Int, _ month: Int, _ day: Int) -> IMAPDate { IMAPDate(year: year, month: month, day: day) }

@Suite("IMAP command parser: valid commands")
struct IMAPCommandParserTests {
    static let thunderbirdHeaders = ["FROM", "TO", "CC", "BCC", "SUBJECT", "DATE", "MESSAGE-ID", "PRIORITY", "X-PRIORITY",
                                     "REFERENCES", "NEWSGROUPS", "IN-REPLY-TO", "CONTENT-TYPE", "REPLY-TO"]

    static let simple: [(String, IMAPCommand)] = [
        ("a001 CAPABILITY", .capability),
        ("a002 noop", .noop),
        ("A023 LOGOUT", .logout),
        ("a STARTTLS", .startTLS),
        ("a CHECK", .check),
        ("a CLOSE", .close),
        ("a UNSELECT", .unselect),
        ("a EXPUNGE", .expunge),
        ("a IDLE", .idle),
        ("a001 LOGIN SMITH SESAME", .login(username: "SMITH", password: SecretBytes(Array("SESAME".utf8)))),
        ("a LOGIN \"joe@example.org\" \"p\\\"w\\\\d\"", .login(username: "joe@example.org", password: SecretBytes(Array("p\"w\\d".utf8)))),
        ("a LOGIN {5}\r\nalice {4+}\r\np w)", .login(username: "alice", password: SecretBytes("p w)"))),
        ("a LOGIN \"\" \"\"", .login(username: "", password: SecretBytes([]))),
        ("a AUTHENTICATE PLAIN", .authenticate(mechanism: "PLAIN", initialResponse: nil)),
        ("a AUTHENTICATE plain AGFsaWNlAHB3ZA==", .authenticate(mechanism: "PLAIN", initialResponse: SecretBytes("AGFsaWNlAHB3ZA=="))),
        ("a AUTHENTICATE EXTERNAL =", .authenticate(mechanism: "EXTERNAL", initialResponse: SecretBytes("="))),
        ("a ID NIL", .id([])),
        ("a ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\")",
         .id([IDParameter(key: "name", value: "Thunderbird"), IDParameter(key: "version", value: "115.3.1")])),
        ("a ID (\"name\" NIL)", .id([IDParameter(key: "name", value: nil)])),
        ("A142 SELECT INBOX", .select("INBOX")),
        ("a SELECT inbox", .select("INBOX")),
        ("a SELECT \"Quarantine/Spam\"", .select("Quarantine/Spam")),
        ("A932 EXAMINE blurdybloop", .examine("blurdybloop")),
        ("A101 LIST \"\" \"\"", .list(reference: "", pattern: "")),
        ("A682 LIST \"\" *", .list(reference: "", pattern: "*")),
        ("a LIST \"\" %", .list(reference: "", pattern: "%")),
        ("A202 LIST ~/Mail/ %", .list(reference: "~/Mail/", pattern: "%")),
        ("A002 LSUB \"#news.\" \"comp.mail.*\"", .lsub(reference: "#news.", pattern: "comp.mail.*")),
        ("A042 STATUS blurdybloop (UIDNEXT MESSAGES)", .status("blurdybloop", [.uidNext, .messages])),
        ("a STATUS INBOX (messages recent uidnext uidvalidity unseen)",
         .status("INBOX", [.messages, .recent, .uidNext, .uidValidity, .unseen])),
        ("A003 COPY 2:4 MEETING", .copy(set(SequenceRange(n(2), n(4))), "MEETING")),
        ("a MOVE 1,3 Trash", .move(set(SequenceRange(n(1)), SequenceRange(n(3))), "Trash")),
        ("a UID COPY 4827313:4828442 Archive", .uidCopy(set(SequenceRange(n(4827313), n(4828442))), "Archive")),
        ("a UID MOVE 42 \"Deleted Items\"", .uidMove(set(SequenceRange(n(42))), "Deleted Items")),
        ("a UID EXPUNGE 3000:3002", .uidExpunge(set(SequenceRange(n(3000), n(3002))))),
        ("a FETCH 4294967295 UID", .fetch(set(SequenceRange(n(4294967295))), [.uid])),
        ("a FETCH 1:* ALL", .fetch(set(SequenceRange(n(1), .last)), FetchAttribute.allMacro)),
        ("a FETCH * fast", .fetch(set(SequenceRange(.last)), FetchAttribute.fastMacro)),
        ("a FETCH 5:3 FULL", .fetch(set(SequenceRange(n(5), n(3))), FetchAttribute.fullMacro)),
        ("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
         .fetch(set(SequenceRange(n(2), n(4))), [.flags, .bodySection(peek: false, section: SectionSpec(text: .headerFields(["DATE", "FROM"])), partial: nil)])),
        ("a FETCH 1 (BODY ENVELOPE INTERNALDATE RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE)",
         .fetch(set(SequenceRange(n(1))), [.body, .envelope, .internalDate, .rfc822, .rfc822Header, .rfc822Text, .bodyStructure])),
        ("a FETCH 1 BODY[]", .fetch(set(SequenceRange(n(1))), [.bodySection(peek: false, section: SectionSpec(), partial: nil)])),
        ("a FETCH 1 BODY.PEEK[]<0.2048>",
         .fetch(set(SequenceRange(n(1))), [.bodySection(peek: true, section: SectionSpec(), partial: Partial(offset: 0, length: 2048))])),
        ("a FETCH 1 (BODY.PEEK[1.2.3.MIME] BODY[2.TEXT] BODY[3] body.peek[text] BODY[HEADER.FIELDS.NOT (Received)])",
         .fetch(set(SequenceRange(n(1))), [
             .bodySection(peek: true, section: SectionSpec(part: [1, 2, 3], text: .mime), partial: nil),
             .bodySection(peek: false, section: SectionSpec(part: [2], text: .text), partial: nil),
             .bodySection(peek: false, section: SectionSpec(part: [3]), partial: nil),
             .bodySection(peek: true, section: SectionSpec(text: .text), partial: nil),
             .bodySection(peek: false, section: SectionSpec(text: .headerFieldsNot(["RECEIVED"])), partial: nil),
         ])),
        // Thunderbird's header fetch.
        ("a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
         .uidFetch(set(SequenceRange(n(1), .last)), [.uid, .rfc822Size, .flags,
                                                     .bodySection(peek: true, section: SectionSpec(text: .headerFields(thunderbirdHeaders)), partial: nil)])),
        // mutt.
        ("a0005 UID FETCH 1:4 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL)])",
         .uidFetch(set(SequenceRange(n(1), n(4))), [.uid, .flags, .internalDate, .rfc822Size,
                                                    .bodySection(peek: true, section: SectionSpec(text: .headerFields(
                                                        ["DATE", "FROM", "SENDER", "SUBJECT", "TO", "CC", "MESSAGE-ID", "REFERENCES", "CONTENT-TYPE",
                                                         "CONTENT-DESCRIPTION", "IN-REPLY-TO", "REPLY-TO", "LINES", "LIST-POST", "X-LABEL"])), partial: nil)])),
        // mbsync.
        ("4 UID FETCH 1:1000000000 (UID FLAGS)", .uidFetch(set(SequenceRange(n(1), n(1_000_000_000))), [.uid, .flags])),
        ("5 UID FETCH 17,19:20 (UID FLAGS BODY.PEEK[])",
         .uidFetch(set(SequenceRange(n(17)), SequenceRange(n(19), n(20))), [.uid, .flags, .bodySection(peek: true, section: SectionSpec(), partial: nil)])),
        // curl (imap://host/INBOX;UID=1).
        ("C FETCH 1 BODY[]", .fetch(set(SequenceRange(n(1))), [.bodySection(peek: false, section: SectionSpec(), partial: nil)])),
        ("A003 STORE 2:4 +FLAGS (\\Deleted)", .store(set(SequenceRange(n(2), n(4))), StoreFlags(operation: .add, silent: false, flags: [.deleted]))),
        ("a UID STORE 7 -FLAGS.SILENT (\\Seen \\Flagged)", .uidStore(set(SequenceRange(n(7))), StoreFlags(operation: .remove, silent: true, flags: [.seen, .flagged]))),
        ("a STORE 1 FLAGS ()", .store(set(SequenceRange(n(1))), StoreFlags(operation: .replace, silent: false, flags: []))),
        ("a STORE 1 +flags \\Answered $Forwarded \\Draft \\X-Custom",
         .store(set(SequenceRange(n(1))), StoreFlags(operation: .add, silent: false, flags: [.answered, .keyword("$Forwarded"), .draft, .extension("X-Custom")]))),
    ]

    static let searches: [(String, IMAPCommand)] = [
        ("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
         .search(charset: nil, .and([.flagged, .since(date(1994, 2, 1)), .not(.from("Smith"))]))),
        ("A283 SEARCH TEXT \"string not in mailbox\"", .search(charset: nil, .text("string not in mailbox"))),
        ("A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX", .search(charset: "UTF-8", .text("XXXXXX"))),
        ("a SEARCH UNSEEN", .search(charset: nil, .unseen)),
        ("a SEARCH ALL", .search(charset: nil, .all)),
        ("a UID SEARCH 1:* NOT DELETED", .uidSearch(charset: nil, .and([.sequenceSet(set(SequenceRange(n(1), .last))), .not(.deleted)]))),
        ("a SEARCH OR SEEN (ANSWERED FLAGGED)", .search(charset: nil, .or(.seen, .and([.answered, .flagged])))),
        ("a SEARCH OR OR FROM a TO b CC c", .search(charset: nil, .or(.or(.from("a"), .to("b")), .cc("c")))),
        ("a SEARCH HEADER Message-ID \"<x@y>\" LARGER 1024 SMALLER 4294967295",
         .search(charset: nil, .and([.header(field: "Message-ID", value: "<x@y>"), .larger(1024), .smaller(4294967295)]))),
        ("a SEARCH BEFORE \"31-Dec-2024\" ON 5-jan-2025 SENTSINCE 01-Mar-2020 SENTBEFORE 2-Apr-2021 SENTON 3-May-2022",
         .search(charset: nil, .and([.before(date(2024, 12, 31)), .on(date(2025, 1, 5)), .sentSince(date(2020, 3, 1)),
                                     .sentBefore(date(2021, 4, 2)), .sentOn(date(2022, 5, 3))]))),
        ("a SEARCH UID 100:200,300 BCC x BODY y SUBJECT z",
         .search(charset: nil, .and([.uid(set(SequenceRange(n(100), n(200)), SequenceRange(n(300)))), .bcc("x"), .body("y"), .subject("z")]))),
        ("a SEARCH ANSWERED DELETED NEW OLD RECENT SEEN DRAFT UNANSWERED UNDELETED UNDRAFT UNFLAGGED KEYWORD $Junk UNKEYWORD $NotJunk",
         .search(charset: nil, .and([.answered, .deleted, .new, .old, .recent, .seen, .draft, .unanswered, .undeleted, .undraft,
                                     .unflagged, .keyword("$Junk"), .unkeyword("$NotJunk")]))),
        ("a SEARCH (((SEEN)))", .search(charset: nil, .seen)),
    ]

    @Test("parses", arguments: simple + searches)
    func parses(line: String, expected: IMAPCommand) throws {
        let parsed = try parse(line)
        #expect(parsed.command == expected)
        #expect(parsed.tag == String(line.prefix { $0 != " " }))
    }

    @Test func parsesFramedBuffer() throws {
        var decoder = IMAPFrameDecoder()
        var buffer = ByteBuffer(string: "x1 LOGIN {5}\r\nalice secret\r\n")
        #expect(decoder.next(&buffer) == .needsContinuation(size: 5))
        guard case .command(let frame)? = decoder.next(&buffer) else {
            Issue.record("no command frame")
            return
        }
        #expect(try IMAPCommandParser.parse(frame) == TaggedCommand(tag: "x1", command: .login(username: "alice", password: SecretBytes(Array("secret".utf8)))))
    }

    @Test func credentialsPrintRedacted() throws {
        let login = try parse("a LOGIN alice sesame")
        let authenticate = try parse("a AUTHENTICATE PLAIN AGFsaWNlAHNlc2FtZQ==")
        for command in [login, authenticate] {
            for text in [String(describing: command), String(reflecting: command)] {
                #expect(text.contains("<redacted>"))
                #expect(!text.contains("sesame") && !text.contains("AGFsaWNlAHNlc2FtZQ"))
            }
        }
    }

    @Test func authenticationResponses() throws {
        #expect(try IMAPCommandParser.parseAuthenticationResponse(ByteBuffer(string: "*")) == .cancel)
        #expect(try IMAPCommandParser.parseAuthenticationResponse(ByteBuffer(string: "AGFsaWNlAHB3ZA==")) == .response(SecretBytes("AGFsaWNlAHB3ZA==")))
        #expect(try IMAPCommandParser.parseAuthenticationResponse(ByteBuffer()) == .response(SecretBytes([])))
        #expect(throws: IMAPParseError.self) { try IMAPCommandParser.parseAuthenticationResponse(ByteBuffer(string: "a1 NOOP")) }
    }

    @Test func idleDone() throws {
        try IMAPCommandParser.parseIdleDone(ByteBuffer(string: "DONE"))
        try IMAPCommandParser.parseIdleDone(ByteBuffer(string: "done"))
        #expect(throws: IMAPParseError.self) { try IMAPCommandParser.parseIdleDone(ByteBuffer(string: "DONE x")) }
        #expect(throws: IMAPParseError.self) { try IMAPCommandParser.parseIdleDone(ByteBuffer(string: "a1 NOOP")) }
    }
}
