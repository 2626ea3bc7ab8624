import Foundation
import Testing
@testable import MailMessage

private let utc = TimeZone(identifier: "UTC")!
private let arrival = Date(timeIntervalSince1970: 1_795_814_116) // Fri, 27 Nov 2026 21:15:16 +0000
private let lastAttempt = arrival.addingTimeInterval(3600)
private let now = arrival.addingTimeInterval(7200)

/// The original message: headers (one folded) and a body that must not come back.
private let original = dsnMessageBytes("""
    Received: from client.example.org (client.example.org [192.0.2.7])
    \tby relay.example.net with ESMTP id 4F2A91; Fri, 27 Nov 2026 21:15:16 +0000
    From: Alice <alice@example.org>
    To: Bob <bob@example.org>, Carol <carol@nomail.example>
    Subject: Quarterly figures
    Date: Fri, 27 Nov 2026 21:15:10 +0000
    Message-ID: <q4.figures@example.org>
    MIME-Version: 1.0
    Content-Type: text/plain; charset=us-ascii

    SECRET BODY LINE: the figures themselves.
    Subject: not a header, part of the body
    """)

/// Test text is written with "\n"; messages use CRLF.
private func dsnMessageBytes(_ text: String) -> [UInt8] {
    Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
}

private func failureDSN() throws -> DeliveryStatusNotification {
    var dsn = try #require(DeliveryStatusNotification(
        kind: .failure, reportingMTA: "relay.example.net", originalSender: "alice@example.org",
        arrivalDate: arrival,
        recipients: [
            RecipientReport(finalRecipient: "bob@example.org", originalRecipient: "rfc822;bob@example.org",
                            action: .failed, status: "5.1.1", remoteMTA: "mx.example.org",
                            diagnostic: .smtp("550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown"),
                            lastAttemptDate: lastAttempt),
            RecipientReport(finalRecipient: "carol@nomail.example", action: .failed, status: "5.1.10",
                            diagnostic: RecipientReport.Diagnostic(type: "X-Postern",
                                                                   text: "domain accepts no mail (null MX)"),
                            lastAttemptDate: lastAttempt),
        ],
        originalEnvelopeID: "QQ314159", queueID: "4F2A91"))
    dsn.timeZone = utc
    return dsn
}

private func delayDSN() throws -> DeliveryStatusNotification {
    var dsn = try #require(DeliveryStatusNotification(
        kind: .delay, reportingMTA: "relay.example.net", originalSender: "alice@example.org",
        arrivalDate: arrival,
        recipients: [
            RecipientReport(finalRecipient: "dave@example.com", action: .delayed, status: "4.7.1",
                            remoteMTA: "mx1.example.com",
                            diagnostic: .smtp("451 4.7.1 Greylisted, please try again later"),
                            lastAttemptDate: lastAttempt, willRetryUntil: arrival.addingTimeInterval(5 * 86400)),
        ],
        queueID: "4F2A91"))
    dsn.timeZone = utc
    return dsn
}

private func render(_ dsn: DeliveryStatusNotification, original: [UInt8] = original, seed: UInt64 = 1) -> [UInt8] {
    var random = SplitMix64(seed: seed)
    return dsn.render(originalMessage: original, now: now, random: &random)
}

/// The groups of a message/delivery-status body, each as its fields.
private func statusGroups(_ bytes: [UInt8], _ part: MIMEPart) -> [HeaderSection] {
    let text = String(decoding: bytes[part.bodyRange], as: UTF8.self)
    return text.components(separatedBy: "\r\n\r\n")
        .filter { !$0.isEmpty }
        .map { HeaderSection(parsing: Array($0.utf8)) }
}

private func value(_ section: HeaderSection, _ name: String) -> String? {
    section.first(name)?.value
}

/// Every line ends in CRLF, no CR or LF stands alone, no line is over 998 octets.
private func checkLines(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(bytes.suffix(2) == [13, 10], sourceLocation: sourceLocation)
    var lineLength = 0
    var longest = 0
    for (index, byte) in bytes.enumerated() {
        switch byte {
        case 10:
            #expect(index > 0 && bytes[index - 1] == 13, "bare LF at \(index)", sourceLocation: sourceLocation)
            longest = max(longest, lineLength)
            lineLength = 0
        case 13:
            #expect(index + 1 < bytes.count && bytes[index + 1] == 10, "bare CR at \(index)",
                    sourceLocation: sourceLocation)
        default:
            lineLength += 1
        }
    }
    #expect(longest <= 998, sourceLocation: sourceLocation)
}

/// Wrapped text as one line: each line break and the indent after it become one space.
private func unwrapped(_ text: String) -> String {
    text.replacingOccurrences(of: "\r\n *", with: " ", options: .regularExpression)
}

private func contains(_ bytes: [UInt8], _ text: String) -> Bool {
    let needle = Array(text.utf8)
    guard needle.count <= bytes.count else { return false }
    return (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
}

@Suite("Delivery status notifications (RFC 3464)")
struct DSNTests {
    @Test("a failure report has the three parts of a multipart/report")
    func failureStructure() throws {
        let bytes = render(try failureDSN())
        checkLines(bytes)
        let message = MIMEParser.parse(bytes)
        #expect(!message.hasDefects)
        #expect(message.root.contentType.mimeType == "multipart/report")
        #expect(message.root.contentType.parameters["report-type"] == "delivery-status")
        #expect(message.root.contentType.boundary != nil)
        #expect(message.root.children.map(\.contentType.mimeType)
            == ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        #expect(message.root.children[0].charset == "us-ascii")
        #expect(bytes.allSatisfy { $0 < 0x80 })

        #expect(message.from == "Mail Delivery System <MAILER-DAEMON@relay.example.net>")
        #expect(message.to == "alice@example.org")
        #expect(message.subject == "Undelivered Mail Returned to Sender")
        #expect(message.date == "Fri, 27 Nov 2026 23:15:16 +0000")
        #expect(message.headers.first("Auto-Submitted")?.value == "auto-replied")
        #expect(message.headers.first("MIME-Version")?.value == "1.0")
        let messageID = try #require(message.messageID)
        #expect(messageID.hasPrefix("<4F2A91.dsn.") && messageID.hasSuffix("@relay.example.net>"))
    }

    @Test("the delivery-status part reports each recipient exactly")
    func failureFields() throws {
        let bytes = render(try failureDSN())
        let message = MIMEParser.parse(bytes)
        let groups = statusGroups(bytes, message.root.children[1])
        try #require(groups.count == 3)

        let perMessage = groups[0]
        #expect(perMessage.fields.map(\.name) == ["Reporting-MTA", "X-Postern-Queue-ID", "Original-Envelope-Id",
                                                  "Arrival-Date"])
        #expect(value(perMessage, "Reporting-MTA") == "dns; relay.example.net")
        #expect(value(perMessage, "X-Postern-Queue-ID") == "4F2A91")
        #expect(value(perMessage, "Original-Envelope-Id") == "QQ314159")
        #expect(value(perMessage, "Arrival-Date") == "Fri, 27 Nov 2026 21:15:16 +0000")

        let bob = groups[1]
        #expect(bob.fields.map(\.name) == ["Original-Recipient", "Final-Recipient", "Action", "Status", "Remote-MTA",
                                           "Diagnostic-Code", "Last-Attempt-Date"])
        #expect(value(bob, "Original-Recipient") == "rfc822;bob@example.org")
        #expect(value(bob, "Final-Recipient") == "rfc822; bob@example.org")
        #expect(value(bob, "Action") == "failed")
        #expect(value(bob, "Status") == "5.1.1")
        #expect(value(bob, "Remote-MTA") == "dns; mx.example.org")
        #expect(value(bob, "Diagnostic-Code")
            == "smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown")
        #expect(value(bob, "Last-Attempt-Date") == "Fri, 27 Nov 2026 22:15:16 +0000")

        let carol = groups[2]
        #expect(carol.fields.map(\.name) == ["Final-Recipient", "Action", "Status", "Diagnostic-Code",
                                             "Last-Attempt-Date"])
        #expect(value(carol, "Final-Recipient") == "rfc822; carol@nomail.example")
        #expect(value(carol, "Status") == "5.1.10")
        #expect(value(carol, "Diagnostic-Code") == "X-Postern; domain accepts no mail (null MX)")
    }

    @Test("the original headers come back, the body does not")
    func originalHeaders() throws {
        let bytes = render(try failureDSN())
        let message = MIMEParser.parse(bytes)
        let part = message.root.children[2]
        let returned = Array(bytes[part.bodyRange])
        let headerEnd = try #require(HeaderSection.endIndex(in: original))
        // The whole header section, byte for byte, without the empty line.
        #expect(returned == Array(original[..<(headerEnd - 2)]))
        #expect(HeaderSection(parsing: returned).first("Message-ID")?.value == "<q4.figures@example.org>")
        #expect(!contains(bytes, "SECRET BODY LINE"))
        #expect(!contains(bytes, "part of the body"))
    }

    @Test("the text says what failed, for whom and why")
    func failureText() throws {
        let bytes = render(try failureDSN())
        let message = MIMEParser.parse(bytes)
        let raw = String(decoding: bytes[message.root.children[0].bodyRange], as: UTF8.self)
        for line in raw.components(separatedBy: "\r\n") {
            #expect(line.utf8.count <= 76, "\(line)")
        }
        let text = unwrapped(raw)
        #expect(text.contains("This is the mail delivery system at relay.example.net."))
        #expect(text.contains("could not be delivered"))
        #expect(text.contains("<bob@example.org>: host mx.example.org said: 550 5.1.1 <bob@example.org>: Recipient"
            + " address rejected: User unknown"))
        #expect(text.contains("<carol@nomail.example>: domain accepts no mail (null MX)"))
        #expect(text.contains("Fri, 27 Nov 2026 21:15:16 +0000 (queue ID 4F2A91)"))
    }

    @Test("a delay warning says the system is still trying and until when")
    func delayReport() throws {
        let bytes = render(try delayDSN())
        checkLines(bytes)
        let message = MIMEParser.parse(bytes)
        #expect(!message.hasDefects)
        #expect(message.subject == "Delayed Mail (still being retried)")
        #expect(message.root.children.map(\.contentType.mimeType)
            == ["text/plain", "message/delivery-status", "text/rfc822-headers"])

        let groups = statusGroups(bytes, message.root.children[1])
        try #require(groups.count == 2)
        #expect(value(groups[0], "Original-Envelope-Id") == nil)
        let dave = groups[1]
        #expect(value(dave, "Final-Recipient") == "rfc822; dave@example.com")
        #expect(value(dave, "Action") == "delayed")
        #expect(value(dave, "Status") == "4.7.1")
        #expect(value(dave, "Remote-MTA") == "dns; mx1.example.com")
        #expect(value(dave, "Diagnostic-Code") == "smtp; 451 4.7.1 Greylisted, please try again later")
        #expect(value(dave, "Last-Attempt-Date") == "Fri, 27 Nov 2026 22:15:16 +0000")
        #expect(value(dave, "Will-Retry-Until") == "Wed, 2 Dec 2026 21:15:16 +0000")

        let text = unwrapped(String(decoding: bytes[message.root.children[0].bodyRange], as: UTF8.self))
        #expect(text.contains("still trying until Wed, 2 Dec 2026 21:15:16 +0000"))
        #expect(text.contains("only a warning"))
        #expect(!text.contains("could not be delivered"))
    }

    @Test("Will-Retry-Until is only for delayed recipients")
    func willRetryOnlyWhenDelayed() throws {
        var dsn = try #require(DeliveryStatusNotification(
            kind: .failure, reportingMTA: "relay.example.net", originalSender: "alice@example.org",
            arrivalDate: arrival,
            recipients: [RecipientReport(finalRecipient: "bob@example.org", action: .failed, status: "5.4.7",
                                         willRetryUntil: now)]))
        dsn.timeZone = utc
        let bytes = render(dsn)
        #expect(!contains(bytes, "Will-Retry-Until"))
    }

    @Test("a non-ASCII recipient uses the utf-8 address type and the DSN stays 7-bit")
    func internationalRecipient() throws {
        var dsn = try #require(DeliveryStatusNotification(
            kind: .failure, reportingMTA: "relay.example.net", originalSender: "alice@example.org",
            arrivalDate: arrival,
            recipients: [RecipientReport(finalRecipient: "jürgen+büro@bücher.example", action: .failed,
                                         status: "5.1.1", remoteMTA: "mx.bücher.example",
                                         diagnostic: .smtp("550 5.1.1 unknown user jürgen"))]))
        dsn.timeZone = utc
        let bytes = render(dsn)
        checkLines(bytes)
        #expect(bytes.allSatisfy { $0 < 0x80 })
        let message = MIMEParser.parse(bytes)
        #expect(!message.hasDefects)
        let groups = statusGroups(bytes, message.root.children[1])
        #expect(value(groups[1], "Final-Recipient") == #"utf-8; j\x{FC}rgen\x{2B}b\x{FC}ro@b\x{FC}cher.example"#)
        #expect(value(groups[1], "Remote-MTA") == #"dns; mx.b\x{FC}cher.example"#)
        #expect(value(groups[1], "Diagnostic-Code") == #"smtp; 550 5.1.1 unknown user j\x{FC}rgen"#)

        // The text part says it in UTF-8, quoted-printable.
        let textPart = message.root.children[0]
        #expect(textPart.charset == "utf-8")
        #expect(textPart.transferEncoding == .quotedPrintable)
        let text = unwrapped(String(decoding: QuotedPrintable.decode(bytes[textPart.bodyRange]), as: UTF8.self))
        #expect(text.contains("<jürgen+büro@bücher.example>: host mx.bücher.example said: 550 5.1.1 unknown user"))
    }

    @Test("UTF-8 original headers are returned as message/global-headers")
    func internationalHeaders() throws {
        let utf8Original = dsnMessageBytes("From: Jürgen <jürgen@bücher.example>\nSubject: Grüße\n\nbody\n")
        let bytes = render(try failureDSN(), original: utf8Original)
        checkLines(bytes)
        let message = MIMEParser.parse(bytes)
        let part = message.root.children[2]
        #expect(part.contentType.mimeType == "message/global-headers")
        #expect(part.transferEncoding == .eightBit)
        #expect(HeaderSection(parsing: Array(bytes[part.bodyRange])).first("Subject")?.value == "Grüße")
    }

    @Test("no DSN to the null sender, none without recipients", arguments: ["", "<>", "  "])
    func nullSender(sender: String) {
        let report = RecipientReport(finalRecipient: "bob@example.org", action: .failed, status: "5.1.1")
        #expect(DeliveryStatusNotification(kind: .failure, reportingMTA: "relay.example.net", originalSender: sender,
                                           arrivalDate: arrival, recipients: [report]) == nil)
        #expect(DeliveryStatusNotification(kind: .failure, reportingMTA: "relay.example.net",
                                           originalSender: "alice@example.org", arrivalDate: arrival,
                                           recipients: []) == nil)
    }

    @Test("long replies are folded, and unfold to what was said")
    func longDiagnostics() throws {
        let words = (1...300).map { "word\($0)" }.joined(separator: " ")
        let unbroken = String(repeating: "x", count: 2500)
        var dsn = try #require(DeliveryStatusNotification(
            kind: .failure, reportingMTA: "relay.example.net", originalSender: "alice@example.org",
            arrivalDate: arrival,
            recipients: [
                RecipientReport(finalRecipient: "bob@example.org", action: .failed, status: "5.0.0",
                                remoteMTA: "mx.example.org", diagnostic: .smtp("550 " + words)),
                RecipientReport(finalRecipient: "carol@example.org", action: .failed, status: "5.0.0",
                                diagnostic: .smtp("550 " + unbroken)),
            ]))
        dsn.timeZone = utc
        let bytes = render(dsn)
        checkLines(bytes)
        let message = MIMEParser.parse(bytes)
        let groups = statusGroups(bytes, message.root.children[1])
        #expect(value(groups[1], "Diagnostic-Code") == "smtp; 550 " + words)
        let hard = try #require(groups[2].first("Diagnostic-Code")?.rawValue)
        #expect(hard.replacingOccurrences(of: "\r\n ", with: "").replacingOccurrences(of: "\r\n", with: "")
            .contains(unbroken))
    }

    @Test("control characters in a reply cannot forge fields")
    func injection() throws {
        var dsn = try #require(DeliveryStatusNotification(
            kind: .failure, reportingMTA: "relay.example.net", originalSender: "alice@example.org\r\nBcc: x@evil",
            arrivalDate: arrival,
            recipients: [RecipientReport(finalRecipient: "bob@example.org\nAction: delivered", action: .failed,
                                         status: "5.1.1; nonsense", remoteMTA: "mx\r\nX-Evil: 1",
                                         diagnostic: .smtp("550 no\r\nAction: delivered\r\n\r\nFinal-Recipient: x"))]))
        dsn.timeZone = utc
        let bytes = render(dsn)
        checkLines(bytes)
        let lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
        #expect(!lines.contains { $0.hasPrefix("Bcc:") || $0.hasPrefix("X-Evil:") })
        #expect(lines.filter { $0.hasPrefix("Action:") } == ["Action: failed"])
        #expect(lines.filter { $0.hasPrefix("Final-Recipient:") }.count == 1)
        let groups = statusGroups(bytes, MIMEParser.parse(bytes).root.children[1])
        #expect(value(groups[1], "Status") == "5.0.0")
    }

    @Test("the original header section is bounded and cut between fields")
    func boundedHeaders() throws {
        var text = ""
        for index in 0..<400 {
            text += "X-Filler-\(index): \(String(repeating: "f", count: 60))\n \(String(repeating: "g", count: 60))\n"
        }
        let long = dsnMessageBytes(text + "Subject: last\n\nbody\n")
        var dsn = try failureDSN()
        dsn.maxOriginalHeaderBytes = 10_000
        let bytes = render(dsn, original: long)
        checkLines(bytes)
        let message = MIMEParser.parse(bytes)
        let returned = Array(bytes[message.root.children[2].bodyRange])
        #expect(returned.count <= 10_000)
        #expect(returned.count > 9_000)
        let section = HeaderSection(parsing: returned)
        #expect(section.fields.allSatisfy { $0.value.hasSuffix(String(repeating: "g", count: 60)) })
        #expect(section.first("Subject") == nil)
        let notice = String(decoding: bytes[message.root.children[0].bodyRange], as: UTF8.self)
        #expect(notice.contains("cut short"))
    }

    @Test("over-long and bare-LF original header lines are made safe")
    func unsafeOriginal() throws {
        let long = "X-Long: " + String(repeating: "é", count: 1500)
        let original = Array(("Subject: bare LF\n" + long + "\nX-CR: a\rb\r\n\nbody\n").utf8)
        let bytes = render(try failureDSN(), original: original)
        checkLines(bytes)
        let message = MIMEParser.parse(bytes)
        let section = HeaderSection(parsing: Array(bytes[message.root.children[2].bodyRange]))
        #expect(section.first("Subject")?.value == "bare LF")
        #expect(section.first("X-Long")?.rawValue.replacingOccurrences(of: "\r\n ", with: "") == " " + long.dropFirst(8))
        #expect(section.first("X-CR")?.value == "a b")
    }

    @Test("a message that does not start with headers returns no headers")
    func noHeaders() throws {
        let bytes = render(try failureDSN(), original: dsnMessageBytes("just a body line\nSubject: nope\n"))
        checkLines(bytes)
        let message = MIMEParser.parse(bytes)
        #expect(message.root.children.count == 3)
        #expect(message.root.children[2].bodyRange.isEmpty || bytes[message.root.children[2].bodyRange].allSatisfy { $0 == 13 || $0 == 10 })
        #expect(!contains(bytes, "Subject: nope"))
    }

    @Test("a boundary that occurs in the content is replaced")
    func boundaryCollision() throws {
        let dsn = try failureDSN()
        let first = MIMEParser.parse(render(dsn, seed: 99))
        let boundary = try #require(first.root.contentType.boundary)
        let hostile = dsnMessageBytes("--\(boundary): gotcha\nSubject: x\n\nbody\n")
        let bytes = render(dsn, original: hostile, seed: 99)
        let message = MIMEParser.parse(bytes)
        #expect(message.root.contentType.boundary != boundary)
        #expect(!message.hasDefects)
        #expect(message.root.children.count == 3)
        #expect(HeaderSection(parsing: Array(bytes[message.root.children[2].bodyRange])).first("Subject")?.value == "x")
    }

    @Test("every action has words in the text", arguments: RecipientReport.Action.allCases)
    func actions(action: RecipientReport.Action) throws {
        let status = action == .failed ? "5.0.0" : (action == .delayed ? "4.0.0" : "2.0.0")
        var dsn = try #require(DeliveryStatusNotification(
            kind: action == .delayed ? .delay : (action == .failed ? .failure : .success),
            reportingMTA: "relay.example.net", originalSender: "alice@example.org", arrivalDate: arrival,
            recipients: [RecipientReport(finalRecipient: "bob@example.org", action: action, status: status)]))
        dsn.timeZone = utc
        let bytes = render(dsn)
        checkLines(bytes)
        let message = MIMEParser.parse(bytes)
        #expect(!message.hasDefects)
        let groups = statusGroups(bytes, message.root.children[1])
        #expect(value(groups[1], "Action") == action.rawValue)
        let text = String(decoding: bytes[message.root.children[0].bodyRange], as: UTF8.self)
        #expect(text.contains("<bob@example.org>: status"))
    }
}
