import Foundation
import Testing
@testable import IMAPCore

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite("IMAP response encoding")
struct IMAPWireTests {
    static let strings: [([UInt8], String)] = [
        (Array("hello".utf8), "\"hello\""),
        ([], "\"\""),
        (Array("say \"hi\" \\ bye".utf8), #""say \"hi\" \\ bye""#),
        (Array("tab\there".utf8), "\"tab\there\""),
        (Array("two\r\nlines".utf8), "{10}\r\ntwo\r\nlines"),
        (Array("bare\nLF".utf8), "{7}\r\nbare\nLF"),
        (Array("caf\u{e9}".utf8), "{5}\r\ncaf\u{e9}"),
        ([0x61, 0x00, 0x62], "{3}\r\na\u{0}b"),
        (Array(repeating: UInt8(ascii: "x"), count: 1000), "\"" + String(repeating: "x", count: 1000) + "\""),
        (Array(repeating: UInt8(ascii: "x"), count: 1001), "{1001}\r\n" + String(repeating: "x", count: 1001)),
    ]

    @Test("string", arguments: strings)
    func string(bytes: [UInt8], expected: String) {
        #expect(text(IMAPWire.string(bytes)) == expected)
    }

    @Test func nstring() {
        #expect(text(IMAPWire.nstring(nil)) == "NIL")
        #expect(text(IMAPWire.nstring(Array("NIL".utf8))) == "\"NIL\"")
    }

    static let astrings: [(String, String)] = [
        ("INBOX", "INBOX"),
        ("Quarantine/Spam", "Quarantine/Spam"),
        ("with space", "\"with space\""),
        ("", "\"\""),
        ("a]b", "a]b"),
        ("per%cent", "\"per%cent\""),
        ("star*", "\"star*\""),
        ("paren(", "\"paren(\""),
        ("brace{", "\"brace{\""),
        ("NIL", "\"NIL\""),
        ("nil", "\"nil\""),
        ("Entw\u{fc}rfe", "{9}\r\nEntw\u{fc}rfe"),
    ]

    @Test("astring", arguments: astrings)
    func astring(name: String, expected: String) {
        #expect(text(IMAPWire.astring(name)) == expected)
    }

    @Test func mailbox() {
        #expect(text(IMAPWire.mailbox("inbox")) == "INBOX")
        #expect(text(IMAPWire.mailbox("InBoX")) == "INBOX")
        #expect(text(IMAPWire.mailbox("Inbox.Sub")) == "Inbox.Sub")
        #expect(text(IMAPWire.mailbox("Junk E-mail")) == "\"Junk E-mail\"")
    }

    @Test func flags() {
        #expect(text(IMAPWire.flagList([])) == "()")
        #expect(text(IMAPWire.flagList([.seen, .deleted])) == "(\\Seen \\Deleted)")
        #expect(text(IMAPWire.flagList([.answered, .flagged, .draft, .extension("X-Custom"), .keyword("$Junk")]))
            == "(\\Answered \\Flagged \\Draft \\X-Custom $Junk)")
        #expect(IMAPWire.flag(.seen) == "\\Seen")
    }

    static let dates: [(TimeInterval, Int, String)] = [
        (0, 0, "\"01-Jan-1970 00:00:00 +0000\""),
        (1_796_595_003, 0, "\"06-Dec-2026 22:10:03 +0000\""),
        (1_796_595_003, 3600, "\"06-Dec-2026 23:10:03 +0100\""),
        (1_796_595_003, -7 * 3600, "\"06-Dec-2026 15:10:03 -0700\""),
        (1_796_595_003, 5 * 3600 + 1800, "\"07-Dec-2026 03:40:03 +0530\""),
        (951_782_400, 0, "\"29-Feb-2000 00:00:00 +0000\""),
        (-1, 0, "\"31-Dec-1969 23:59:59 +0000\""),
        (4_107_542_399, 0, "\"28-Feb-2100 23:59:59 +0000\""),
        (1_700_000_000.9, 0, "\"14-Nov-2023 22:13:20 +0000\""),
    ]

    @Test("internal date", arguments: dates)
    func internalDate(seconds: TimeInterval, offset: Int, expected: String) {
        #expect(text(IMAPWire.internalDate(Date(timeIntervalSince1970: seconds), timeZoneOffsetSeconds: offset)) == expected)
    }

    /// Every third day from 1586 to 2627 against Foundation's calendar (which is
    /// Julian before 1582; IMAP dates are proleptic Gregorian).
    @Test func civilTimeAgreesWithCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for day in stride(from: Int64(-140_000), through: 240_000, by: 3) {
            let civil = CivilTime(unixSeconds: day * 86400 + 43_210)
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                                from: Date(timeIntervalSince1970: TimeInterval(day * 86400 + 43_210)))
            guard civil.year == parts.year, civil.month == parts.month, civil.day == parts.day,
                  civil.hour == 12, civil.minute == 0, civil.second == 10 else {
                Issue.record("day \(day): \(civil) vs \(parts)")
                return
            }
            #expect(CivilTime.unixDays(year: civil.year, month: civil.month, day: civil.day) == day)
        }
    }

    @Test func literal() {
        #expect(text(IMAPWire.literal(Array("ab\r\nc".utf8))) == "{5}\r\nab\r\nc")
        #expect(text(IMAPWire.literal([UInt8]())) == "{0}\r\n")
    }

    static let sectionNames: [(SectionSpec, Partial?, String)] = [
        (SectionSpec(), nil, "BODY[]"),
        (SectionSpec(), Partial(offset: 0, length: 1024), "BODY[]<0>"),
        (SectionSpec(text: .header), nil, "BODY[HEADER]"),
        (SectionSpec(part: [1, 2], text: .mime), Partial(offset: 7, length: 3), "BODY[1.2.MIME]<7>"),
        (SectionSpec(part: [3]), nil, "BODY[3]"),
        (SectionSpec(part: [3], text: .text), nil, "BODY[3.TEXT]"),
        (SectionSpec(text: .headerFields(["FROM", "TO"])), nil, "BODY[HEADER.FIELDS (FROM TO)]"),
        (SectionSpec(part: [2], text: .headerFieldsNot(["X-ODD NAME"])), nil, "BODY[2.HEADER.FIELDS.NOT (\"X-ODD NAME\")]"),
    ]

    @Test("section names", arguments: sectionNames)
    func sectionName(spec: SectionSpec, partial: Partial?, expected: String) {
        #expect(text(IMAPWire.sectionName(spec, partial: partial)) == expected)
    }
}
