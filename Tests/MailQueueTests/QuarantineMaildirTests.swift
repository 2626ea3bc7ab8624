import Foundation
import MailMessage
import SMTPCore
import Synchronization
import Testing
@testable import MailQueue

/// The quarantine Maildir: the fields a quarantine file starts with (written,
/// escaped, read back), file names, and `store`'s durability order and
/// duplicate detection.
@Suite("Quarantine Maildir")
struct QuarantineMaildirTests {
    static let id = QueueID("0005F1A2B3C4D5E6")!
    static let date = Date(timeIntervalSince1970: 1_765_000_000)

    static func record(reason: String = "SPF fail: 127.0.0.2 is not allowed", helo: String? = "client.test",
                       recipients: [String] = ["bob@local.test", "carol@local.test"]) -> QuarantineRecord {
        QuarantineRecord(id: id, sender: "alice@fail.test", recipients: recipients, clientAddress: "127.0.0.2",
                         clientHelo: helo, receivedProtocol: "ESMTPS", eightBitMIME: true, smtpUTF8: false,
                         reason: reason, date: date)
    }

    static let message = Array("Received: from client.test\r\nSubject: hi\r\n\r\nbody\r\n".utf8)

    // MARK: fields

    @Test func fieldsReadBackAsWritten() throws {
        let record = Self.record()
        let fields = record.headerFields
        let text = String(decoding: fields, as: UTF8.self)
        #expect(text.hasPrefix("Return-Path: <alice@fail.test>\r\nX-Postern-Quarantine-ID: 0005F1A2B3C4D5E6\r\n"))
        #expect(text.contains("X-Postern-Recipient: <bob@local.test>\r\nX-Postern-Recipient: <carol@local.test>\r\n"))
        #expect(text.contains("X-Postern-Client: 127.0.0.2 (client.test)\r\n"))
        #expect(text.contains("X-Postern-Protocol: ESMTPS BODY=8BITMIME\r\n"))
        #expect(text.hasSuffix("X-Postern-Quarantined: \(MessageDate.string(from: Self.date))\r\n"))
        let parsed = try QuarantineRecord.parse(fields + Self.message, fileDate: Self.date)
        #expect(parsed.record == record)
        #expect(parsed.length == fields.count)
    }

    /// RET, ENVID, NOTIFY and ORCPT (RFC 3461 §4) survive the quarantine,
    /// by position: an address given twice keeps each copy's own.
    @Test func dsnParametersReadBackAsWritten() throws {
        var record = Self.record(recipients: ["bob@local.test", "\"x> NOTIFY=NEVER <y\"@local.test", "carol@local.test",
                                              "bob@local.test"])
        record.dsnReturn = .full
        record.envelopeID = "QQ 314+159=<x>"
        let bob = RecipientParameters(notify: [.success, .failure],
                                      originalRecipient: OriginalRecipient(addressType: "rfc822", address: "Bob Smith@Local.test"))
        record.recipientParameters = [0: bob, 1: RecipientParameters(notify: .never), 3: RecipientParameters(notify: .delay),
                                      7: RecipientParameters(notify: .never)] // no recipient 7: not written
        let text = String(decoding: record.headerFields, as: UTF8.self)
        #expect(text.contains("X-Postern-Recipient-DSN: 0 NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+20Smith@Local.test <bob@local.test>\r\n"))
        #expect(text.contains("X-Postern-Recipient-DSN: 3 NOTIFY=DELAY <bob@local.test>\r\n"))
        #expect(text.contains("X-Postern-DSN: RET=FULL ENVID=QQ+20314+2B159+3D<x>\r\n"))
        #expect(!text.contains("X-Postern-Recipient-DSN: 7"))
        let parsed = try QuarantineRecord.parse(record.headerFields + Self.message, fileDate: Self.date).record
        #expect(parsed.dsnReturn == .full && parsed.envelopeID == "QQ 314+159=<x>")
        #expect(parsed.recipients == record.recipients)
        #expect(parsed.recipientParameters == [0: bob, 1: RecipientParameters(notify: .never), 3: RecipientParameters(notify: .delay)])
        #expect(parsed.parameters(at: 2) == RecipientParameters())
        // Taking recipients out keeps the others' parameters with them.
        let kept = parsed.keeping { $0 != "\"x> NOTIFY=NEVER <y\"@local.test" }
        #expect(kept.recipients == ["bob@local.test", "carol@local.test", "bob@local.test"])
        #expect(kept.recipientParameters == [0: bob, 2: RecipientParameters(notify: .delay)])
    }

    /// A record written before DSN fields existed, or with DSN fields that
    /// do not read back, still reads: its message can be released.
    @Test(arguments: [
        "", "X-Postern-Recipient-DSN: 0 NOTIFY=SOMETIMES <bob@local.test>\r\n",
        "X-Postern-Recipient-DSN: 0 NOTIFY=NEVER <carol@local.test>\r\n",
        "X-Postern-Recipient-DSN: 2 NOTIFY=NEVER <bob@local.test>\r\n",
        "X-Postern-Recipient-DSN: NOTIFY=NEVER <bob@local.test>\r\n",
        "X-Postern-Recipient-DSN: -1 NOTIFY=NEVER <bob@local.test>\r\n",
        "X-Postern-Recipient-DSN: 0 NOTIFY=NEVER bob@local.test\r\n",
        "X-Postern-Recipient-DSN: 0 <bob@local.test>\r\n",
        "X-Postern-Recipient-DSN: 0 SIZE=10 <bob@local.test>\r\n",
        "X-Postern-Recipient-DSN: 99999999999999999999 NOTIFY=NEVER <bob@local.test>\r\n",
        "X-Postern-DSN: RET=MAYBE\r\n", "X-Postern-DSN: SIZE=10\r\n", "X-Postern-DSN: ENVID=\r\n",
        "X-Postern-DSN: RET=FULL <bob@local.test>\r\n",
    ])
    func unreadableDSNFieldsAreLeftOut(field: String) throws {
        let record = Self.record()
        var text = String(decoding: record.headerFields, as: UTF8.self)
        text = text.replacingOccurrences(of: "X-Postern-Client:", with: field + "X-Postern-Client:")
        let parsed = try QuarantineRecord.parse(Array(text.utf8) + Self.message, fileDate: Self.date).record
        #expect(parsed == record)
    }

    /// RET and ENVID are read each on its own, and an ENVID RFC 3461 would
    /// not allow is not written.
    @Test func retAndEnvidStandAlone() throws {
        var text = String(decoding: Self.record().headerFields, as: UTF8.self)
        text = text.replacingOccurrences(of: "X-Postern-Client:", with: "X-Postern-DSN: RET=HDRS ENVID=+ZZ\r\nX-Postern-Client:")
        let parsed = try QuarantineRecord.parse(Array(text.utf8) + Self.message, fileDate: Self.date).record
        #expect(parsed.dsnReturn == .headers && parsed.envelopeID == nil)
        var record = Self.record()
        record.envelopeID = String(repeating: "x", count: 101)
        #expect(!String(decoding: record.headerFields, as: UTF8.self).contains("X-Postern-DSN"))
        record.envelopeID = "tab\there"
        #expect(!String(decoding: record.headerFields, as: UTF8.self).contains("X-Postern-DSN"))
    }

    /// Found by the fuzzer: a control in an address (no SMTP path holds
    /// one) became a space when the record was written back.
    @Test(arguments: ["X-Postern-Recipient: <\"x <\u{7F}\"@local.test>", "X-Postern-Sender: <a\u{1}b@fail.test>"])
    func addressesWithControlsAreRefused(field: String) throws {
        let name = String(field.prefix { $0 != ":" })
        var text = String(decoding: Self.record().headerFields, as: UTF8.self)
        text = text.replacingOccurrences(of: name == "X-Postern-Sender" ? "X-Postern-Sender: <alice@fail.test>\r\n"
                                            : "X-Postern-Client:", with: field + "\r\n" + (name == "X-Postern-Sender" ? "" : "X-Postern-Client:"))
        #expect(throws: QuarantineRecord.ParseError.badField(name)) {
            try QuarantineRecord.parse(Array(text.utf8) + Self.message, fileDate: Self.date)
        }
    }

    /// Found by the fuzzer: a control in a text value read back as it
    /// stood, but was written as a space, and a run of spaces as one. They
    /// read as written now.
    @Test func controlsInTextValuesReadAsTheSpacesWritten() throws {
        var text = String(decoding: Self.record().headerFields, as: UTF8.self)
        text = text.replacingOccurrences(of: "ESMTPS BODY", with: "ES\u{0}\u{7F}MTPS BODY")
            .replacingOccurrences(of: "SPF fail:", with: "SPF\u{1}fail:")
            .replacingOccurrences(of: "(client.test)", with: "(client\u{1B} \u{0}test)")
        let parsed = try QuarantineRecord.parse(Array(text.utf8) + Self.message, fileDate: Self.date).record
        #expect(parsed.receivedProtocol == "ES" && parsed.reason.hasPrefix("SPF fail:") && parsed.clientHelo == "client test")
        #expect(try QuarantineRecord.parse(parsed.headerFields, fileDate: Self.date).record == parsed)
    }

    /// Found by the fuzzer: a "(" inside the client address was taken for
    /// the start of the HELO name.
    @Test(arguments: [("127.2.(0.0 (client.test)", "127.2.(0.0", "client.test"), ("192.0.2.1 (a (b) c)", "192.0.2.1", "a (b) c"),
                      ("192.0.2.1", "192.0.2.1", nil), ("192.0.2.1 x (y)", "192.0.2.1", nil), ("192.0.2.1 ()", "192.0.2.1", "")])
    func theHeloNameIsWhatFollowsTheAddress(client: String, address: String, helo: String?) throws {
        var text = String(decoding: Self.record().headerFields, as: UTF8.self)
        text = text.replacingOccurrences(of: "127.0.0.2 (client.test)", with: client)
        let parsed = try QuarantineRecord.parse(Array(text.utf8) + Self.message, fileDate: Self.date).record
        #expect(parsed.clientAddress == address && parsed.clientHelo == helo)
        #expect(try QuarantineRecord.parse(parsed.headerFields, fileDate: Self.date).record == parsed)
    }

    @Test(arguments: ["", "MAILER-DAEMON@x.test", "\"john  doe\"@example.org", "jürgen@bücher.example"])
    func addressesReadBackExactly(sender: String) throws {
        var record = Self.record()
        record.sender = sender
        record.recipients = [sender.isEmpty ? "postmaster" : sender]
        let parsed = try QuarantineRecord.parse(record.headerFields + Self.message, fileDate: Self.date)
        #expect(parsed.record.sender == sender)
        #expect(parsed.record.recipients == record.recipients)
    }

    /// A reason or HELO name with line breaks cannot start a field of its own.
    @Test(arguments: ["virus\r\nBcc: victim@example.org", "x\nX-Postern-Quarantined: forged\r\n\r\nbody", "a\rb\u{0}c\u{7F}"])
    func controlsInValuesCannotInjectFields(hostile: String) throws {
        let record = Self.record(reason: hostile, helo: hostile)
        let fields = record.headerFields
        let lines = String(decoding: fields, as: UTF8.self).components(separatedBy: "\r\n").dropLast()
        let names = lines.filter { !$0.hasPrefix(" ") }.map { $0.prefix { $0 != ":" } }
        #expect(names == ["Return-Path", "X-Postern-Quarantine-ID", "X-Postern-Sender", "X-Postern-Recipient",
                          "X-Postern-Recipient", "X-Postern-Client", "X-Postern-Protocol", "X-Postern-Reason",
                          "X-Postern-Quarantined"])
        #expect(!fields.contains(0) && !fields.contains(0x7F))
        #expect(fields.filter { $0 == 13 }.count == lines.count) // every CR ends a line
        let parsed = try QuarantineRecord.parse(fields + Self.message, fileDate: Self.date)
        #expect(parsed.length == fields.count)
        #expect(!parsed.record.reason.contains("\r") && !parsed.record.reason.contains("\n"))
    }

    @Test func longReasonsAreFoldedAndReadBack() throws {
        let reason = (1...40).map { "word\($0)" }.joined(separator: " ")
        let fields = Self.record(reason: reason).headerFields
        let lines = String(decoding: fields, as: UTF8.self).components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 78 })
        #expect(try QuarantineRecord.parse(fields + Self.message, fileDate: Self.date).record.reason == reason)
    }

    /// The message's own X-Postern-* fields stay with the message.
    @Test func parsingStopsAfterTheLastFieldWeWrote() throws {
        let fields = Self.record().headerFields
        let message = Array("X-Postern-Reason: from the client\r\nX-Postern-Quarantined: no\r\n\r\nbody\r\n".utf8)
        #expect(try QuarantineRecord.parse(fields + message, fileDate: Self.date).length == fields.count)
    }

    @Test func filesNotWrittenByTheQuarantineAreRefused() {
        #expect(throws: QuarantineRecord.ParseError.notQuarantined) {
            try QuarantineRecord.parse(Self.message, fileDate: Self.date)
        }
        let fields = Self.record().headerFields
        #expect(throws: QuarantineRecord.ParseError.incomplete) {
            try QuarantineRecord.parse(Array(fields.prefix(fields.count - 10)), fileDate: Self.date)
        }
    }

    // MARK: names

    @Test func namesCarryTheQueueIDAndDate() {
        let name = QuarantineMaildir.name(id: Self.id, date: Self.date, size: 1234, hostname: "mx.example.org")
        #expect(name.hasPrefix("1765000000.0005F1A2B3C4D5E6_P"))
        #expect(name.hasSuffix(".mx.example.org,S=1234"))
        for seen in [name, name + ":2,S", name + ":2,RS"] {
            #expect(QuarantineMaildir.parse(name: seen)?.id == Self.id)
            #expect(QuarantineMaildir.parse(name: seen)?.date == Self.date)
        }
        #expect(QuarantineMaildir.parse(name: "1765000000.M12P34.host") == nil)
        #expect(QuarantineMaildir.parse(name: ".hidden") == nil)
        let maildir = QuarantineMaildir(directory: "/x", hostname: "a/b:c,d")
        #expect(maildir.hostname == "a\\057b\\072c\\054d")
    }

    // MARK: store

    func makeBody(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.path + "/body.eml"
        try Data(Array("Old-Header: x\r\n".utf8) + Self.message).write(to: URL(fileURLWithPath: path))
        return path
    }

    func names(_ path: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    }

    @Test func storesDurablyInOrderAndReadsBack() throws {
        let dir = TemporaryDirectory()
        let steps = Mutex<[QuarantineMaildir.Step]>([])
        let maildirPath = dir.path + "/quarantine"
        let maildir = QuarantineMaildir(directory: maildirPath, hostname: "mx.test") { step in
            // The file is in tmp/ until renamed, and only then in new/.
            let inNew = !((try? FileManager.default.contentsOfDirectory(atPath: maildirPath + "/new")) ?? []).isEmpty
            #expect(inNew == (step == .renamed || step == .syncedDirectory))
            steps.withLock { $0.append(step) }
        }
        try maildir.create()
        for sub in ["", "/new", "/cur", "/tmp"] {
            let mode = (try FileManager.default.attributesOfItem(atPath: maildirPath + sub)[.posixPermissions] as? Int) ?? 0
            #expect(mode == 0o700)
        }
        let added = ["X-Spam-Flag: YES\r\n"]
        let result = try maildir.store(Self.record(), addedHeaders: added, body: QueuedBody(path: try makeBody(dir), offset: 15))
        #expect(steps.withLock { $0 } == [.wroteTemporary, .syncedFile, .renamed, .syncedDirectory])
        guard case .stored(let entry) = result else { Issue.record("not stored"); return }
        #expect(entry.path.hasPrefix(maildirPath + "/new/"))
        #expect(names(maildirPath + "/tmp").isEmpty)
        let contents = try maildir.contents(of: entry)
        #expect(contents == Self.record().headerFields + Array(added.joined().utf8) + Self.message)
        #expect(entry.path.hasSuffix(",S=\(contents.count)"))
        let (record, offset) = try maildir.read(entry)
        #expect(record == Self.record())
        #expect(try maildir.contents(of: entry, from: offset) == Array(added.joined().utf8) + Self.message)
        #expect(try maildir.entries() == [entry])
    }

    @Test func aStoreStoppedBeforeTheRenameLeavesNothing() throws {
        let dir = TemporaryDirectory()
        struct Crash: Error {}
        let maildir = QuarantineMaildir(directory: dir.path + "/q") { if $0 == .syncedFile { throw Crash() } }
        try maildir.create()
        #expect(throws: QueueIOError.self) {
            try maildir.store(Self.record(), addedHeaders: [], body: QueuedBody(path: try makeBody(dir)))
        }
        #expect(try maildir.entries().isEmpty)
        #expect(names(dir.path + "/q/tmp").isEmpty)
    }

    /// Once a file for the queue ID is in new/ or cur/ (a MUA moved it),
    /// it is not written again.
    @Test(arguments: [false, true])
    func aSecondStoreFindsTheFirst(movedToCur: Bool) throws {
        let dir = TemporaryDirectory()
        let maildir = QuarantineMaildir(directory: dir.path + "/q")
        try maildir.create()
        let body = try makeBody(dir)
        guard case .stored(var first) = try maildir.store(Self.record(), addedHeaders: [], body: QueuedBody(path: body)) else {
            Issue.record("not stored")
            return
        }
        if movedToCur {
            let seen = dir.path + "/q/cur/" + (first.path as NSString).lastPathComponent + ":2,S"
            #expect(rename(first.path, seen) == 0)
            first.path = seen
        }
        #expect(try maildir.store(Self.record(), addedHeaders: [], body: QueuedBody(path: body)) == .alreadyThere(first))
        #expect(try maildir.entries().count == 1)
    }

    @Test func unfinishedFilesOfOursAreRemovedOthersKept() throws {
        let dir = TemporaryDirectory()
        let maildir = QuarantineMaildir(directory: dir.path + "/q")
        try maildir.create()
        let ours = QuarantineMaildir.name(id: Self.id, date: Self.date, size: 1, hostname: "h")
        for name in [ours, "1765000000.M1P2.mua"] {
            _ = FileManager.default.createFile(atPath: dir.path + "/q/tmp/" + name, contents: Data())
        }
        try maildir.removeUnfinished()
        #expect(names(dir.path + "/q/tmp") == ["1765000000.M1P2.mua"])
    }

    @Test func removeTakesTheFileAway() throws {
        let dir = TemporaryDirectory()
        let maildir = QuarantineMaildir(directory: dir.path + "/q")
        try maildir.create()
        guard case .stored(let entry) = try maildir.store(Self.record(), addedHeaders: [], body: QueuedBody(path: try makeBody(dir))) else { return }
        try maildir.remove(entry)
        #expect(try maildir.entries().isEmpty)
        #expect(throws: QueueIOError.self) { try maildir.remove(entry) }
    }

    @Test func aMissingMaildirListsEmpty() throws {
        #expect(try QuarantineMaildir(directory: "/nonexistent/postern-quarantine").entries().isEmpty)
    }

    @Test func theQuarantineReasonSurvivesTheEnvelopeCodec() throws {
        var envelope = Envelope(id: Self.id, created: Self.date, sender: "a@b.test", recipients: [.init(address: "c@d.test")],
                                size: 10, state: .quarantine, clientAddress: "127.0.0.1", clientHelo: nil,
                                receivedProtocol: "ESMTP")
        envelope.quarantineReason = "SPF fail:\r\n odd % reason"
        #expect(try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope)) == envelope)
        #expect(QuarantineRecord(envelope: envelope).reason == envelope.quarantineReason)
    }
}
