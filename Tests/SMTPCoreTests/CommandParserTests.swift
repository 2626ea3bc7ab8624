import Testing
@testable import SMTPCore

@Suite("Command parser")
struct CommandParserTests {
    static func parse(_ line: String) throws(SMTPCommandError) -> SMTPCommand {
        try CommandParser.parse(Array(line.utf8))
    }

    static func mailbox(_ local: String, _ domain: String) -> Mailbox {
        Mailbox(localPart: local, domain: .name(domain))
    }

    static let valid: [(String, SMTPCommand)] = [
        ("HELO client.example", .helo("client.example")),
        ("ehlo [192.0.2.1]", .ehlo("[192.0.2.1]")),
        ("MAIL FROM:<alice@example.org>", .mail(.mailbox(mailbox("alice", "example.org")), [])),
        ("mail from:<alice@example.org>", .mail(.mailbox(mailbox("alice", "example.org")), [])),
        ("MAIL FROM: <alice@example.org>", .mail(.mailbox(mailbox("alice", "example.org")), [])),
        ("MAIL FROM:<>", .mail(.null, [])),
        ("MAIL FROM:<> SIZE=1000 BODY=8BITMIME",
         .mail(.null, [ESMTPParameter(keyword: "SIZE", value: "1000"), ESMTPParameter(keyword: "BODY", value: "8BITMIME")])),
        ("MAIL FROM:<a@b.example> smtputf8", .mail(.mailbox(mailbox("a", "b.example")), [ESMTPParameter(keyword: "SMTPUTF8")])),
        ("MAIL FROM:<\"john doe\"@example.org>", .mail(.mailbox(mailbox("john doe", "example.org")), [])),
        ("MAIL FROM:<\"a\\\"b\"@example.org>", .mail(.mailbox(mailbox("a\"b", "example.org")), [])),
        ("MAIL FROM:<@relay1.example,@relay2.example:user@example.org>", .mail(.mailbox(mailbox("user", "example.org")), [])),
        // The absolute form's trailing dot is dropped, so policy sees one name.
        ("RCPT TO:<bob@Example.NET.>", .rcpt(.mailbox(mailbox("bob", "Example.NET")), [])),
        ("RCPT TO:<bob@example.net>", .rcpt(.mailbox(mailbox("bob", "example.net")), [])),
        ("RCPT TO:<Postmaster>", .rcpt(.postmaster, [])),
        ("RCPT TO:<postmaster>", .rcpt(.postmaster, [])),
        ("RCPT TO:<postmaster@example.net>", .rcpt(.mailbox(mailbox("postmaster", "example.net")), [])),
        ("RCPT TO:<user@[192.0.2.1]>", .rcpt(.mailbox(Mailbox(localPart: "user", domain: .literal("192.0.2.1"))), [])),
        ("RCPT TO:<user@[IPv6:2001:db8::1]>", .rcpt(.mailbox(Mailbox(localPart: "user", domain: .literal("IPv6:2001:db8::1"))), [])),
        ("RCPT TO:<用户@例子.广告>", .rcpt(.mailbox(mailbox("用户", "例子.广告")), [])),
        ("RCPT TO:<a.b+tag@sub-domain.example.com>", .rcpt(.mailbox(mailbox("a.b+tag", "sub-domain.example.com")), [])),
        ("DATA", .data),
        ("BDAT 1000", .bdat(size: 1000, last: false)),
        ("BDAT 0 LAST", .bdat(size: 0, last: true)),
        ("bdat 12 last", .bdat(size: 12, last: true)),
        ("RSET", .rset),
        ("NOOP", .noop),
        ("NOOP anything at all", .noop),
        ("QUIT", .quit),
        ("VRFY bob", .vrfy("bob")),
        ("EXPN list", .expn("list")),
        ("HELP", .help(nil)),
        ("HELP MAIL", .help("MAIL")),
        ("STARTTLS", .startTLS),
        ("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", .auth(mechanism: "PLAIN", initialResponse: "dGVzdAB0ZXN0AHRlc3Q=")),
    ]

    @Test("valid commands", arguments: valid)
    func validCommand(line: String, expected: SMTPCommand) throws {
        #expect(try Self.parse(line) == expected)
    }

    static let invalid: [(String, Int, String)] = [
        ("FOO bar", 500, "5.5.2"),
        ("", 500, "5.5.2"),
        ("MAIL FROM:<a@b>\0", 500, "5.5.2"),
        ("MAIL FROM:<a@b>\u{1}", 500, "5.5.2"),
        ("HELO", 501, "5.5.4"),
        ("EHLO two words", 501, "5.5.4"),
        ("MAIL TO:<a@b>", 501, "5.5.4"),
        ("MAIL FROM:a@b.example", 501, "5.1.7"),
        ("MAIL FROM:<a@b.example", 501, "5.1.7"),
        ("MAIL FROM:<a..b@example.org>", 501, "5.1.7"),
        ("MAIL FROM:<.a@example.org>", 501, "5.1.7"),
        ("MAIL FROM:<a@example..org>", 501, "5.1.7"),
        ("MAIL FROM:<a@-example.org>", 501, "5.1.7"),
        ("MAIL FROM:<a@example-.org>", 501, "5.1.7"),
        ("MAIL FROM:<a@example.org..>", 501, "5.1.7"),
        ("MAIL FROM:<a@.>", 501, "5.1.7"),
        ("MAIL FROM:<a@>", 501, "5.1.7"),
        ("MAIL FROM:<@example.org>", 501, "5.1.7"),
        ("MAIL FROM:<a b@example.org>", 501, "5.1.7"),
        ("MAIL FROM:<\"unterminated@example.org>", 501, "5.1.7"),
        ("MAIL FROM:<a@[300.1.1.1]>", 501, "5.1.7"),
        ("MAIL FROM:<a@[IPv6:zz::1]>", 501, "5.1.7"),
        ("MAIL FROM:<a@[1.2.3]>", 501, "5.1.7"),
        ("MAIL FROM:<Postmaster>", 501, "5.1.7"),
        ("MAIL FROM:<a@b.example>SIZE=1", 501, "5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE=", 501, "5.5.4"),
        ("MAIL FROM:<a@b.example> =1", 501, "5.5.4"),
        ("MAIL FROM:<\(String(repeating: "x", count: 65))@example.org>", 501, "5.1.7"),
        ("RCPT TO:<>", 501, "5.1.3"),
        ("RCPT TO:bob@example.net", 501, "5.1.3"),
        ("RCPT TO:<bob@example.net", 501, "5.1.3"),
        ("RCPT TO:<bob%other.example@example.net@evil.example>", 501, "5.1.3"),
        ("RCPT TO:<@a.example:>", 501, "5.1.3"),
        ("RCPT TO:<@a.example,b.example:u@c.example>", 501, "5.1.3"),
        ("DATA now", 501, "5.5.4"),
        ("BDAT", 501, "5.5.4"),
        ("BDAT -1", 501, "5.5.4"),
        ("BDAT 10 NOTLAST", 501, "5.5.4"),
        ("BDAT 99999999999999999999999", 501, "5.5.4"),
        ("RSET x", 501, "5.5.4"),
        ("QUIT now", 501, "5.5.4"),
        ("VRFY", 501, "5.5.4"),
        ("STARTTLS x", 501, "5.5.4"),
    ]

    @Test("hostile and malformed commands", arguments: invalid)
    func invalidCommand(line: String, code: Int, enhanced: String) {
        do {
            let command = try Self.parse(line)
            Issue.record("parsed \(line.debugDescription) as \(command)")
        } catch {
            #expect(error.reply.code == code, "\(line.debugDescription): \(error.reply)")
            #expect(error.reply.enhanced?.description == enhanced, "\(line.debugDescription): \(error.reply)")
        }
    }

    @Test("HTTP request lines are recognised", arguments: ["GET / HTTP/1.1", "POST /x HTTP/1.0", "CONNECT a:25 HTTP/1.1", "get /"])
    func httpVerbs(line: String) {
        #expect(throws: SMTPCommandError.httpRequest) { try Self.parse(line) }
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() {
        #expect(throws: SMTPCommandError.malformedLine) { try CommandParser.parse(Array("MAIL FROM:<".utf8) + [0xFF, 0xFE] + Array("@x>".utf8)) }
    }

    @Test("mailboxes render back to wire form", arguments: [
        ("MAIL FROM:<\"john doe\"@example.org>", "\"john doe\"@example.org"),
        ("MAIL FROM:<\"a\\\"b\"@example.org>", "\"a\\\"b\"@example.org"),
        ("MAIL FROM:<\"plain\"@example.org>", "plain@example.org"),
        ("MAIL FROM:<u@[IPv6:::1]>", "u@[IPv6:::1]"),
    ])
    func rendering(line: String, rendered: String) throws {
        guard case .mail(.mailbox(let mailbox), _) = try Self.parse(line) else {
            Issue.record("not a MAIL command")
            return
        }
        #expect(mailbox.description == rendered)
    }
}
