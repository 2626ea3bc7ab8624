import Foundation
import Testing
@testable import IMAPCore

@Suite("SEARCH evaluation")
struct SearchEvaluatorTests {
    /// 2026-12-06 22:10:03 UTC.
    static let arrival = Date(timeIntervalSince1970: 1_796_595_003)

    static let candidate = SearchCandidate(sequenceNumber: 3, uid: 42, flags: [.seen, .flagged, .keyword("$Junk")],
                                           recent: true, size: 2048, internalDate: arrival)

    static let body = message(
        "From: =?ISO-8859-1?Q?Ren=E9?= <rene@example.fr>",
        "To: Team <team@example.com>, boss@example.com",
        "Cc: carol@example.net",
        "Bcc: hidden@example.org",
        "Subject: =?UTF-8?B?UmVwb3J0IGbDvHIgTcO8bmNoZW4=?=",
        "Date: Thu, 3 Dec 2026 23:30:00 -0800",
        "X-Mailer: Test",
        "X-Empty:",
        "Content-Type: multipart/mixed; boundary=s",
        "",
        "--s",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Gr=FC=DFe aus M=FCnchen, the QUARTERLY figures",
        "--s",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        "PHA+Q2Fmw6kgbWVldGluZzwvcD4=",
        "--s",
        "Content-Type: application/octet-stream",
        "",
        "secret attachment words",
        "--s",
        "Content-Type: message/rfc822",
        "",
        "Subject: forwarded thing",
        "",
        "nested plain words",
        "--s",
        "Content-Type: message/rfc822",
        "Content-Transfer-Encoding: base64",
        "",
        "U3ViamVjdDogZW5jb2RlZCBpbm5lcg0KDQpiYXNlNjQgbmVzdGVkIHRleHQNCg==",
        "--s",
        "Content-Type: text/plain; charset=windows-1252",
        "Content-Transfer-Encoding: 8bit",
        "",
        "",
        "--s--",
        "")

    static func matches(_ key: SearchKey, _ candidate: SearchCandidate = candidate, message: IMAPMessage? = body) -> Bool {
        SearchEvaluator.matches(key, candidate, message: message, largestSequence: 10, largestUID: 100)
    }

    static let flagCases: [(SearchKey, Bool)] = [
        (.all, true), (.seen, true), (.unseen, false), (.flagged, true), (.unflagged, false),
        (.answered, false), (.unanswered, true), (.deleted, false), (.undeleted, true), (.draft, false), (.undraft, true),
        (.recent, true), (.old, false), (.new, false),
        (.keyword("$junk"), true), (.keyword("$NotJunk"), false), (.unkeyword("$Junk"), false), (.unkeyword("Work"), true),
        (.larger(2047), true), (.larger(2048), false), (.smaller(2049), true), (.smaller(2048), false),
        (.uid(SequenceSet([SequenceRange(.number(40), .number(45))])), true),
        (.uid(SequenceSet([SequenceRange(.number(43), .last)])), false),
        (.uid(SequenceSet([SequenceRange(.last, .number(42))])), true),
        (.sequenceSet(SequenceSet([SequenceRange(.number(3))])), true),
        (.sequenceSet(SequenceSet([SequenceRange(.number(4), .last)])), false),
        (.sequenceSet(SequenceSet([SequenceRange(.number(1)), SequenceRange(.number(3))])), true),
        (.not(.seen), false), (.or(.deleted, .flagged), true), (.or(.deleted, .draft), false),
        (.and([.seen, .flagged]), true), (.and([.seen, .draft]), false), (.and([]), true),
        (.before(IMAPDate(year: 2026, month: 12, day: 7)), true),
        (.before(IMAPDate(year: 2026, month: 12, day: 6)), false),
        (.on(IMAPDate(year: 2026, month: 12, day: 6)), true),
        (.on(IMAPDate(year: 2026, month: 12, day: 7)), false),
        (.since(IMAPDate(year: 2026, month: 12, day: 6)), true),
        (.since(IMAPDate(year: 2026, month: 12, day: 7)), false),
    ]

    @Test("flags, sizes, sets, dates", arguments: flagCases)
    func withoutContents(key: SearchKey, expected: Bool) {
        #expect(!SearchEvaluator.needsContents(key))
        #expect(Self.matches(key, message: nil) == expected)
    }

    static let contentCases: [(SearchKey, Bool)] = [
        (.from("rené"), true), (.from("RENE@EXAMPLE"), true), (.from("team"), false),
        (.to("team"), true), (.to("boss@"), true), (.to("carol"), false),
        (.cc("carol"), true), (.bcc("hidden"), true), (.bcc("carol"), false),
        (.subject("für münchen"), true), (.subject("REPORT"), true), (.subject("minutes"), false),
        (.header(field: "X-Mailer", value: "test"), true), (.header(field: "x-mailer", value: ""), true),
        (.header(field: "X-Empty", value: ""), true), (.header(field: "X-Missing", value: ""), false),
        (.header(field: "X-Mailer", value: "other"), false),
        (.body("grüße aus münchen"), true), (.body("quarterly"), true), (.body("café meeting"), true),
        (.body("secret attachment"), false), (.body("nested plain"), true), (.body("forwarded thing"), true),
        (.body("base64 nested text"), true), (.body("encoded inner"), true),
        (.body("X-Mailer"), false), (.text("x-mailer: test"), true), (.text("quarterly"), true),
        (.text("nowhere at all"), false), (.body(""), true),
        // Date: is the 3rd in its own zone (the 4th in UTC): the day as written counts.
        (.sentOn(IMAPDate(year: 2026, month: 12, day: 3)), true),
        (.sentOn(IMAPDate(year: 2026, month: 12, day: 4)), false),
        (.sentBefore(IMAPDate(year: 2026, month: 12, day: 4)), true),
        (.sentBefore(IMAPDate(year: 2026, month: 12, day: 3)), false),
        (.sentSince(IMAPDate(year: 2026, month: 12, day: 3)), true),
        (.sentSince(IMAPDate(year: 2026, month: 12, day: 4)), false),
        (.not(.from("nobody")), true), (.or(.from("nobody"), .seen), true),
    ]

    @Test("header and body contents", arguments: contentCases)
    func withContents(key: SearchKey, expected: Bool) {
        #expect(SearchEvaluator.needsContents(key))
        #expect(Self.matches(key) == expected)
    }

    @Test func contentKeysNeverMatchWithoutTheMessage() {
        #expect(!Self.matches(.from("rene"), message: nil))
        #expect(!Self.matches(.body(""), message: nil))
        #expect(!Self.matches(.sentSince(IMAPDate(year: 1970, month: 1, day: 1)), message: nil))
        #expect(Self.matches(.not(.text("x")), message: nil))
    }

    @Test func newIsRecentAndUnseen() {
        var fresh = Self.candidate
        fresh.flags = []
        #expect(Self.matches(.new, fresh, message: nil))
        fresh.recent = false
        #expect(!Self.matches(.new, fresh, message: nil))
        #expect(Self.matches(.old, fresh, message: nil))
    }

    @Test func starIsTheLargest() {
        let star = SearchKey.sequenceSet(SequenceSet([SequenceRange(.last)]))
        var last = Self.candidate
        last.sequenceNumber = 10
        #expect(Self.matches(star, last, message: nil))
        #expect(!Self.matches(star, message: nil))
        #expect(!SearchEvaluator.matches(.uid(SequenceSet([SequenceRange(.last)])), Self.candidate, message: nil,
                                         largestSequence: 0, largestUID: 0))
    }

    /// Without a readable Date: the SENT keys use INTERNALDATE.
    @Test func sentDateFallsBackToInternalDate() {
        let undated = message("Subject: none", "", "x")
        #expect(Self.matches(.sentOn(IMAPDate(year: 2026, month: 12, day: 6)), message: undated))
        let garbled = message("Date: someday soon", "", "x")
        #expect(Self.matches(.sentOn(IMAPDate(year: 2026, month: 12, day: 6)), message: garbled))
    }

    static let sentDates: [(String, IMAPDate?)] = [
        ("Thu, 3 Dec 2026 23:30:00 -0800", IMAPDate(year: 2026, month: 12, day: 3)),
        ("3 Dec 2026 23:30:00 +0000", IMAPDate(year: 2026, month: 12, day: 3)),
        ("Mon, 07 December 2026 09:00:00 GMT", IMAPDate(year: 2026, month: 12, day: 7)),
        ("21 Nov 97 09:55:06 GMT", IMAPDate(year: 1997, month: 11, day: 21)),
        ("21 Nov 03 09:55:06 GMT", IMAPDate(year: 2003, month: 11, day: 21)),
        ("1 Jan 100 00:00 +0000", IMAPDate(year: 2000, month: 1, day: 1)),
        ("Tue,1 Dec 2026", IMAPDate(year: 2026, month: 12, day: 1)),
        ("1-Jan-2020", IMAPDate(year: 2020, month: 1, day: 1)),
        ("32 Jan 2020", nil),
        ("Dec 3 2026", nil),
        ("", nil),
        ("garbage", nil),
    ]

    @Test("Date: field", arguments: sentDates)
    func sentDate(value: String, expected: IMAPDate?) {
        #expect(SentDate.parse(value) == expected)
    }
}
