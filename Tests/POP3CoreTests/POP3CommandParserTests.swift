import IMAPCore
import Testing
@testable import POP3Core

@Suite("POP3 command parser")
struct POP3CommandParserTests {
    static let valid: [(String, POP3Command)] = [
        ("USER alice", .user("alice")),
        ("user alice", .user("alice")),
        ("USER  alice", .user("alice")),
        ("USER al\u{e9}", .user("al\u{e9}")),
        ("PASS secret", .pass(SecretBytes("secret"))),
        ("PASS with spaces  inside ", .pass(SecretBytes("with spaces  inside "))),
        ("AUTH", .auth(mechanism: nil, initialResponse: nil)),
        ("AUTH plain", .auth(mechanism: "PLAIN", initialResponse: nil)),
        ("AUTH PLAIN AGFsaWNlAHNlY3JldA==", .auth(mechanism: "PLAIN", initialResponse: SecretBytes("AGFsaWNlAHNlY3JldA=="))),
        ("AUTH PLAIN =", .auth(mechanism: "PLAIN", initialResponse: SecretBytes("="))),
        ("STAT", .stat),
        ("stat", .stat),
        ("LIST", .list(nil)),
        ("LIST 1", .list(1)),
        ("LIST 007", .list(7)),
        ("RETR 12", .retr(12)),
        ("DELE 3", .dele(3)),
        ("NOOP", .noop),
        ("RSET", .rset),
        ("QUIT", .quit),
        ("QUIT ", .quit),
        ("TOP 1 0", .top(1, lines: 0)),
        ("TOP 2 10", .top(2, lines: 10)),
        ("UIDL", .uidl(nil)),
        ("UIDL 4", .uidl(4)),
        ("CAPA", .capa),
        ("STLS", .stls),
        ("RETR 999999999", .retr(999_999_999)),
    ]

    @Test("valid commands", arguments: valid)
    func parses(_ line: String, _ expected: POP3Command) throws {
        #expect(try POP3CommandParser.parse(Array(line.utf8)) == expected)
    }

    static let invalid: [(String, POP3ParseError)] = [
        ("", .emptyLine),
        (" STAT", .unknownCommand("")),
        ("APOP alice 0123456789abcdef0123456789abcdef", .unknownCommand("APOP")),
        ("XTND XMIT", .unknownCommand("XTND")),
        ("GET / HTTP/1.1", .unknownCommand("GET")),
        ("EHLO client", .unknownCommand("EHLO")),
        ("USER", .syntax("USER name")),
        ("USER alice bob", .syntax("USER name")),
        ("PASS", .syntax("PASS password")),
        ("PASS ", .syntax("PASS password")),
        ("STAT 1", .syntax("STAT")),
        ("LIST 1 2", .syntax("LIST [msg]")),
        ("LIST 0", .invalidNumber),
        ("LIST -1", .invalidNumber),
        ("LIST 1a", .invalidNumber),
        ("LIST +1", .invalidNumber),
        ("RETR", .syntax("RETR msg")),
        ("RETR 0", .invalidNumber),
        ("RETR 9999999999", .invalidNumber),
        ("RETR 99999999999999999999999", .invalidNumber),
        ("DELE", .syntax("DELE msg")),
        ("DELE x", .invalidNumber),
        ("TOP 1", .syntax("TOP msg lines")),
        ("TOP 1 2 3", .syntax("TOP msg lines")),
        ("TOP 0 1", .invalidNumber),
        ("TOP 1 -1", .invalidNumber),
        ("NOOP x", .syntax("NOOP")),
        ("AUTH PLAIN a b", .syntax("AUTH mechanism [initial-response]")),
        ("USER al\u{0}ice", .invalidCharacters),
        ("USER alice\r", .invalidCharacters),
        ("USER\talice", .invalidCharacters),
        ("PASS se\u{7f}cret", .invalidCharacters),
        ("QUIT\u{1b}", .invalidCharacters),
    ]

    @Test("refused commands", arguments: invalid)
    func refuses(_ line: String, _ expected: POP3ParseError) {
        #expect(throws: expected) { try POP3CommandParser.parse(Array(line.utf8)) }
    }

    @Test("a user name that is not UTF-8 is refused")
    func notUTF8() {
        #expect(throws: POP3ParseError.invalidCharacters) { try POP3CommandParser.parse(Array("USER ".utf8) + [0xFF, 0xFE]) }
    }

    @Test("passwords never show in descriptions")
    func redacted() throws {
        let command = try POP3CommandParser.parse(Array("PASS hunter2".utf8))
        #expect(!"\(command)".contains("hunter2"))
        #expect(!String(reflecting: command).contains("hunter2"))
    }
}
