import Foundation
import NIOCore
import Testing
@testable import IMAPCore

@Suite("IMAP command parser: ENABLE, NAMESPACE, mailbox management, APPEND, LIST-EXTENDED")
struct IMAPMailboxCommandTests {
    typealias Reason = IMAPParseError.Reason

    static let message = Array("From: a@b\r\n\r\nhi\r\n".utf8)
    static let july17 = IMAPDateTime(date: IMAPDate(year: 1996, month: 7, day: 17), hour: 2, minute: 44, second: 25, zoneMinutes: -420)

    static let valid: [(String, IMAPCommand)] = [
        ("a ENABLE CONDSTORE", .enable(["CONDSTORE"])),
        ("a enable utf8=accept qresync", .enable(["UTF8=ACCEPT", "QRESYNC"])),
        ("a NAMESPACE", .namespace),
        ("a SUBSCRIBE Quarantine", .subscribe("Quarantine")),
        ("a UNSUBSCRIBE \"Junk E-mail\"", .unsubscribe("Junk E-mail")),
        ("A003 CREATE owatagusiam/", .create("owatagusiam/")),
        ("A683 DELETE blurdybloop", .delete("blurdybloop")),
        ("a delete inbox", .delete("INBOX")),
        ("A683 RENAME blurdybloop sarasoop", .rename(from: "blurdybloop", to: "sarasoop")),
        ("a RENAME \"a b\" {3}\r\nc d", .rename(from: "a b", to: "c d")),
        ("A003 APPEND saved-messages (\\Seen) {17}\r\nFrom: a@b\r\n\r\nhi\r\n",
         .append("saved-messages", flags: [.seen], date: nil, message: message)),
        ("a APPEND INBOX {17+}\r\nFrom: a@b\r\n\r\nhi\r\n", .append("INBOX", flags: [], date: nil, message: message)),
        ("a APPEND Drafts () \"17-Jul-1996 02:44:25 -0700\" {17}\r\nFrom: a@b\r\n\r\nhi\r\n",
         .append("Drafts", flags: [], date: july17, message: message)),
        ("a APPEND Drafts \" 7-Jul-1996 02:44:25 +0000\" {0}\r\n",
         .append("Drafts", flags: [], date: IMAPDateTime(date: IMAPDate(year: 1996, month: 7, day: 7), hour: 2, minute: 44,
                                                          second: 25, zoneMinutes: 0), message: [])),
        ("a APPEND x (\\Draft $Label) \"01-Jan-2027 00:00:00 +0530\" {17}\r\nFrom: a@b\r\n\r\nhi\r\n",
         .append("x", flags: [.draft, .keyword("$Label")],
                 date: IMAPDateTime(date: IMAPDate(year: 2027, month: 1, day: 1), hour: 0, minute: 0, second: 0, zoneMinutes: 330),
                 message: message)),
        ("a LIST \"\" *", .list(reference: "", pattern: "*")),
        ("a LIST \"\" \"*\" RETURN (SPECIAL-USE)",
         .listExtended(selection: [], reference: "", patterns: ["*"], returnOptions: ["SPECIAL-USE"])),
        ("a LIST (SPECIAL-USE) \"\" \"*\"",
         .listExtended(selection: ["SPECIAL-USE"], reference: "", patterns: ["*"], returnOptions: [])),
        ("a LIST (subscribed recursivematch) \"\" (INBOX \"Quarantine/*\") return (children special-use)",
         .listExtended(selection: ["SUBSCRIBED", "RECURSIVEMATCH"], reference: "", patterns: ["INBOX", "Quarantine/*"],
                       returnOptions: ["CHILDREN", "SPECIAL-USE"])),
        ("a LIST () \"\" % RETURN ()", .listExtended(selection: [], reference: "", patterns: ["%"], returnOptions: [])),
    ]

    @Test("parses", arguments: valid)
    func parses(line: String, expected: IMAPCommand) throws {
        #expect(try parse(line).command == expected)
    }

    @Test func appendDateIsAnInstant() {
        #expect(Self.july17.instant == Date(timeIntervalSince1970: 837_596_665))
    }

    static let appendUsage = "APPEND mailbox [(flags)] [\"date-time\"] {size}"
    static let listUsage = "LIST [(options)] reference pattern [RETURN (options)]"

    static let refusals: [(String, Reason)] = [
        ("a ENABLE", .syntax("ENABLE capability ...")),
        ("a ENABLE (X)", .expected("capability")),
        ("a NAMESPACE x", .unexpectedTrailingData),
        ("a SUBSCRIBE", .syntax("SUBSCRIBE mailbox")),
        ("a CREATE", .syntax("CREATE mailbox")),
        ("a DELETE", .syntax("DELETE mailbox")),
        ("a RENAME x", .syntax("RENAME mailbox new-name")),
        ("a APPEND", .syntax(appendUsage)),
        ("a APPEND INBOX", .syntax(appendUsage)),
        ("a APPEND INBOX \"hello\"", .invalidDate),
        ("a APPEND INBOX (\\Seen)", .syntax(appendUsage)),
        ("a APPEND INBOX (\\Recent) {0}\r\n", .expected("flag other than \\Recent")),
        ("a APPEND INBOX (\\Seen {0}\r\n", .expected("flag")),
        ("a APPEND INBOX message", .expected("message literal")),
        ("a APPEND INBOX \"17-Jul-1996 24:00:00 +0000\" {0}\r\n", .invalidDate),
        ("a APPEND INBOX \"17-Jul-1996 02:44:25 0700\" {0}\r\n", .invalidDate),
        ("a APPEND INBOX \"17-Jul-1996 02:44:25 +0760\" {0}\r\n", .invalidDate),
        ("a APPEND INBOX \"17-Jul-96 02:44:25 +0000\" {0}\r\n", .invalidDate),
        ("a APPEND INBOX \"32-Jul-1996 02:44:25 +0000\" {0}\r\n", .invalidDate),
        ("a APPEND INBOX \"17-Jul-1996 02:44:25 +0000 {0}\r\n", .expected("closing quote after date-time")),
        ("a APPEND INBOX {3}\r\na\u{0}b", .invalidLiteral),
        ("a APPEND INBOX {5}\r\nab", .invalidLiteral),
        ("a LIST", .syntax(listUsage)),
        ("a LIST (SPECIAL-USE)", .syntax(listUsage)),
        ("a LIST \"\" * RETURN", .syntax(listUsage)),
        ("a LIST \"\" * FROB (X)", .syntax(listUsage)),
        ("a LIST \"\" * RETURN (STATUS (MESSAGES))", .expected("option")),
        ("a LIST \"\" (a b", .expected("\")\" after patterns")),
        ("a LIST (X \"\" *", .expected("option")),
    ]

    @Test("refused", arguments: refusals)
    func refused(line: String, reason: Reason) {
        #expect(throws: IMAPParseError(tag: "a", reason: reason)) { try parse(line) }
    }

    /// A large APPEND is refused by the framing before its octets are read.
    @Test func largeAppendIsRefusedByTheFraming() {
        var decoder = IMAPFrameDecoder()
        var buffer = ByteBuffer(string: "a APPEND INBOX {100000}\r\n")
        #expect(decoder.next(&buffer) == .literalTooLarge(LiteralRejection(tag: "a", size: 100_000, synchronizing: true)))
    }
}
