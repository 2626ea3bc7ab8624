import Foundation
import Testing
@testable import IMAPCore

/// Every message in tests/fixtures/imap/*.eml rendered as Dovecot 2.3.19
/// renders it (NAME.dovecot, written by tests/fixtures/imap/dovecot.py):
/// ENVELOPE, BODY and BODYSTRUCTURE compared as structures (quoted or
/// literal is the server's choice), sections and partials octet for octet.
/// Where we answer differently on purpose, `deviations` says what and why.
@Suite("IMAP message rendering compared with Dovecot")
struct IMAPMessageDovecotTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tests/fixtures/imap")

    static let fixtures = [
        "addresses", "addresses2", "badmime", "barelf", "digest", "empty", "encoded", "garbagetype", "headeronly",
        "latin1raw", "misc", "mixed", "nested", "nofinalnewline", "nomime", "rfc2231", "rfc3501", "rfc822attach", "simple",
        "unterminated",
    ]

    /// Items where we answer otherwise than Dovecot, with our answer.
    static let deviations: [String: [String: String]] = [
        // An invalid Content-Type is text/plain (RFC 2045 §5.2, and what the
        // content policy saw); names are lowercase (case-insensitive anyway).
        "garbagetype": [
            "BODY": #"("text" "plain" ("charset" "us-ascii") NIL NIL "x-unknown" 6 1)"#,
            "BODYSTRUCTURE": #"("text" "plain" ("charset" "us-ascii") NIL NIL "x-unknown" 6 1 NIL NIL NIL NIL)"#,
        ],
        // Types, subtypes, parameter names, encodings lowercase; white space
        // around Content-ID and Message-ID trimmed.
        "misc": [
            "BODY": #"(("text" "html" ("charset" "us-ascii") "<spaced-id@example.com>" "=?UTF-8?Q?r=C3=A9sum=C3=A9?=" "7bit" 11 0)("text" "enriched" ("charset" "ISO-8859-1") NIL NIL "7bit" 4 0)("application" "json" ("charset" "utf-8") NIL NIL "7bit" 2) "alternative")"#,
            "BODYSTRUCTURE": #"(("text" "html" ("charset" "us-ascii") "<spaced-id@example.com>" "=?UTF-8?Q?r=C3=A9sum=C3=A9?=" "7bit" 11 0 NIL NIL ("fr") NIL)("text" "enriched" ("charset" "ISO-8859-1") NIL NIL "7bit" 4 0 NIL NIL NIL NIL)("application" "json" ("charset" "utf-8") NIL NIL "7bit" 2 NIL ("attachment" NIL) NIL NIL) "alternative" ("boundary" "=_Part_1_Case") NIL NIL NIL)"#,
            "ENVELOPE": "(\"Tue, 1 Dec 2026 10:00:00 +0000\" \"\" ((NIL NIL \"one\" \"example.com\")(\"Two\" NIL \"two\" \"example.com\")(NIL NIL \"ignored\" \"example.com\")) ((NIL NIL \"one\" \"example.com\")(\"Two\" NIL \"two\" \"example.com\")(NIL NIL \"ignored\" \"example.com\")) ((NIL NIL \"one\" \"example.com\")(\"Two\" NIL \"two\" \"example.com\")(NIL NIL \"ignored\" \"example.com\")) (({7}\r\n\u{c3}\u{a9}l\u{c3}\u{a8}ve NIL \"eleve\" \"example.fr\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL \"<spaced@example.com>\")",
        ],
        // RFC 2231 values come back decoded and re-encoded in UTF-8 (the
        // same text); parameter names lowercase.
        "rfc2231": [
            "BODY": #"(("application" "octet-stream" ("name*" "utf-8''%E2%82%AC%20rates.txt") NIL NIL "7bit" 4)("text" "plain" ("charset" "us-ascii" "format" "Flowed" "delsp" "Yes") NIL NIL "7bit" 6 0) "mixed")"#,
            "BODYSTRUCTURE": #"(("application" "octet-stream" ("name*" "utf-8''%E2%82%AC%20rates.txt") NIL NIL "7bit" 4 NIL ("attachment" ("filename*" "utf-8'en'%C2%A3%20rates.txt")) NIL NIL)("text" "plain" ("charset" "us-ascii" "format" "Flowed" "delsp" "Yes") NIL NIL "7bit" 6 0 NIL ("inline" NIL) NIL NIL) "mixed" ("boundary" "p") NIL NIL NIL)"#,
        ],
        // A base64 message/rfc822 is opaque to both; Dovecot reads its
        // encoded text as a header and so keeps the line break before the
        // delimiter in the body (RFC 2046 §5.1.1 gives it to the delimiter).
        "rfc822attach": [
            "BODY": #"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0)("message" "rfc822" NIL NIL NIL "base64" 76 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) 0)("message" "rfc822" NIL NIL NIL "7bit" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) 0) "mixed")"#,
            "BODYSTRUCTURE": #"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "base64" 76 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) 0 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) 0 NIL NIL NIL NIL) "mixed" ("boundary" "f") NIL NIL NIL)"#,
            "BODY[2]": "RnJvbTogaW5uZXJAZXhhbXBsZS5jb20NClN1YmplY3Q6IGlubmVyDQoNCklubmVyIGJvZHkNCg==",
            "BODY[2.HEADER]": "",
            "BODY[2.HEADER.FIELDS (SUBJECT)]": "",
        ],
        // A close delimiter followed at once by the enclosing multipart's
        // delimiter: the one line break between them belongs to the outer
        // delimiter (RFC 2046 §5.1.1, as MIMEParser reads it); Dovecot gives
        // it to the inner close-delimiter line, so its enclosing parts are
        // two octets (and a line) longer. Types lowercase.
        "rfc3501": [
            "BODY": #"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0)("application" "octet-stream" NIL NIL NIL "base64" 8)("message" "rfc822" NIL NIL NIL "7bit" 220 (NIL "part 3" ((NIL NIL "three" "example.com")) ((NIL NIL "three" "example.com")) ((NIL NIL "three" "example.com")) NIL NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0)("application" "octet-stream" NIL NIL NIL "7bit" 13) "mixed") 12)(("image" "gif" NIL NIL NIL "base64" 20)("message" "rfc822" NIL NIL NIL "7bit" 366 (NIL "part 4.2" ((NIL NIL "four-two" "example.com")) ((NIL NIL "four-two" "example.com")) ((NIL NIL "four-two" "example.com")) NIL NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 0)(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 0)("text" "richtext" ("charset" "us-ascii") NIL NIL "7bit" 30 0) "alternative") "mixed") 20) "mixed") "mixed")"#,
            "BODYSTRUCTURE": #"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL)("application" "octet-stream" NIL NIL NIL "base64" 8 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 220 (NIL "part 3" ((NIL NIL "three" "example.com")) ((NIL NIL "three" "example.com")) ((NIL NIL "three" "example.com")) NIL NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0 NIL NIL NIL NIL)("application" "octet-stream" NIL NIL NIL "7bit" 13 NIL NIL NIL NIL) "mixed" ("boundary" "three") NIL NIL NIL) 12 NIL NIL NIL NIL)(("image" "gif" NIL NIL NIL "base64" 20 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 366 (NIL "part 4.2" ((NIL NIL "four-two" "example.com")) ((NIL NIL "four-two" "example.com")) ((NIL NIL "four-two" "example.com")) NIL NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 0 NIL NIL NIL NIL)(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 0 NIL NIL NIL NIL)("text" "richtext" ("charset" "us-ascii") NIL NIL "7bit" 30 0 NIL NIL NIL NIL) "alternative" ("boundary" "alt") NIL NIL NIL) "mixed" ("boundary" "fourtwo") NIL NIL NIL) 20 NIL NIL NIL NIL) "mixed" ("boundary" "four") NIL NIL NIL) "mixed" ("boundary" "top") NIL NIL NIL)"#,
            "BODY[3.TEXT]": "--three\r\nContent-Type: TEXT/PLAIN\r\n\r\npart 3.1 text\r\n--three\r\nContent-Type: APPLICATION/OCTET-STREAM\r\n\r\npart 3.2 data\r\n--three--",
            "BODY[3]": "From: three@example.com\r\nSubject: part 3\r\nContent-Type: MULTIPART/MIXED; boundary=\"three\"\r\n\r\n--three\r\nContent-Type: TEXT/PLAIN\r\n\r\npart 3.1 text\r\n--three\r\nContent-Type: APPLICATION/OCTET-STREAM\r\n\r\npart 3.2 data\r\n--three--",
            "BODY[4.2.2]": "--alt\r\nContent-Type: TEXT/PLAIN\r\n\r\npart 4.2.2.1 text\r\n--alt\r\nContent-Type: TEXT/RICHTEXT\r\n\r\npart 4.2.2.2 <bold>rich</bold>\r\n--alt--",
            "BODY[4.2.TEXT]": "--fourtwo\r\nContent-Type: TEXT/PLAIN\r\n\r\npart 4.2.1 text\r\n--fourtwo\r\nContent-Type: MULTIPART/ALTERNATIVE; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: TEXT/PLAIN\r\n\r\npart 4.2.2.1 text\r\n--alt\r\nContent-Type: TEXT/RICHTEXT\r\n\r\npart 4.2.2.2 <bold>rich</bold>\r\n--alt--\r\n--fourtwo--",
            "BODY[4.2]": "From: four-two@example.com\r\nSubject: part 4.2\r\nContent-Type: MULTIPART/MIXED; boundary=\"fourtwo\"\r\n\r\n--fourtwo\r\nContent-Type: TEXT/PLAIN\r\n\r\npart 4.2.1 text\r\n--fourtwo\r\nContent-Type: MULTIPART/ALTERNATIVE; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: TEXT/PLAIN\r\n\r\npart 4.2.2.1 text\r\n--alt\r\nContent-Type: TEXT/RICHTEXT\r\n\r\npart 4.2.2.2 <bold>rich</bold>\r\n--alt--\r\n--fourtwo--",
            "BODY[4]": "--four\r\nContent-Type: IMAGE/GIF\r\nContent-Transfer-Encoding: base64\r\n\r\nR0lGODlhAQABAAAAACw=\r\n--four\r\nContent-Type: MESSAGE/RFC822\r\n\r\nFrom: four-two@example.com\r\nSubject: part 4.2\r\nContent-Type: MULTIPART/MIXED; boundary=\"fourtwo\"\r\n\r\n--fourtwo\r\nContent-Type: TEXT/PLAIN\r\n\r\npart 4.2.1 text\r\n--fourtwo\r\nContent-Type: MULTIPART/ALTERNATIVE; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: TEXT/PLAIN\r\n\r\npart 4.2.2.1 text\r\n--alt\r\nContent-Type: TEXT/RICHTEXT\r\n\r\npart 4.2.2.2 <bold>rich</bold>\r\n--alt--\r\n--fourtwo--\r\n--four--",
        ],
        // Dovecot writes its canonical "us-ascii" only for plain 7bit text;
        // the value is kept as written otherwise, by both.
        "simple": [
            "BODY": #"("text" "plain" ("charset" "US-ASCII") NIL NIL "7bit" 69 2)"#,
            "BODYSTRUCTURE": #"("text" "plain" ("charset" "US-ASCII") NIL NIL "7bit" 69 2 NIL NIL NIL NIL)"#,
        ],
        // A field selection always ends with the empty line, even when the
        // header had none.
        "empty": ["BODY[HEADER.FIELDS.NOT (FROM RECEIVED X-DUP)]": "\r\n"],
        "headeronly": ["BODY[HEADER.FIELDS.NOT (FROM RECEIVED X-DUP)]": "Subject: header only\r\n\r\n"],
    ]

    /// One character per octet, for readable failures.
    static func latin1(_ octets: [UInt8]) -> String {
        String(String.UnicodeScalarView(octets.map { Unicode.Scalar($0) }))
    }

    static func octets(_ text: String) -> [UInt8] {
        text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
    }

    /// Dovecot's answers: item name to wire text (structures) or octets (sections).
    static func expectations(_ name: String) throws -> [String: String] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name + ".dovecot"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var result: [String: String] = [:]
        for (key, value) in object {
            result[key] = value as? String
        }
        return result
    }

    /// What we answer for one FETCH item name, e.g. `BODY[1.MIME]` or `BODY[]<0.10>`.
    static func answer(_ message: IMAPMessage, _ item: String) throws -> [UInt8] {
        switch item {
        case "ENVELOPE": return message.envelope()
        case "BODY": return message.bodyStructure(extensible: false)
        case "BODYSTRUCTURE": return message.bodyStructure(extensible: true)
        case "RFC822.SIZE": return Array(String(message.size).utf8)
        default:
            let command = try IMAPCommandParser.parse(Array("a FETCH 1 (\(item))".utf8))
            guard case .fetch(_, let attributes) = command.command,
                  case .bodySection(_, let section, let partial)? = attributes.first else {
                Issue.record("not a section: \(item)")
                return []
            }
            return IMAPMessage.partial(message.section(section), partial)
        }
    }

    @Test("renders as Dovecot does", arguments: fixtures)
    func rendersAsDovecot(name: String) throws {
        let bytes = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent(name + ".eml")))
        let message = IMAPMessage(bytes)
        let expected = try Self.expectations(name)
        #expect(expected.count >= 40, "\(name).dovecot has \(expected.count) items")
        for (item, dovecot) in expected.sorted(by: { $0.key < $1.key }) {
            let ours = try Self.answer(message, item)
            let wanted = Self.octets(Self.deviations[name]?[item] ?? dovecot)
            if ["ENVELOPE", "BODY", "BODYSTRUCTURE"].contains(item) {
                let oursValue = try IMAPData.read(ours)
                let wantedValue = try IMAPData.read(wanted)
                #expect(oursValue == wantedValue, "\(name) \(item)")
                if Self.deviations[name]?[item] != nil {
                    #expect(ours == wanted, "\(name) \(item) deviation, exactly")
                }
            } else {
                #expect(Self.latin1(ours) == Self.latin1(wanted), "\(name) \(item)")
            }
        }
    }

    @Test func everyFixtureIsListed() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path)
        let names = files.filter { $0.hasSuffix(".eml") }.map { String($0.dropLast(4)) }.sorted()
        #expect(names == Self.fixtures.sorted())
    }
}
