import Foundation
import MailMessage
import SMTPCore

/// What a quarantine file records about its message, as header fields
/// written above the message exactly as it would have been delivered:
///
///     Return-Path: <alice@example.org>
///     X-Postern-Quarantine-ID: 0005F1A2B3C4D5E6
///     X-Postern-Sender: <alice@example.org>
///     X-Postern-Recipient: <bob@example.net>       (one per recipient)
///     X-Postern-Recipient-DSN: 0 NOTIFY=FAILURE ORCPT=rfc822;bob@example.net <bob@example.net>
///     X-Postern-DSN: RET=HDRS ENVID=QQ314159
///     X-Postern-Client: 192.0.2.7 (mail.example.org)
///     X-Postern-Protocol: ESMTPS BODY=8BITMIME SMTPUTF8
///     X-Postern-Reason: SPF fail: …
///     X-Postern-Quarantined: Sun, 6 Dec 2026 20:07:30 +0000
///
/// `X-Postern-Quarantined` is always the last of them, so a release strips
/// exactly these fields and nothing of the message, even when the message
/// itself starts with fields of the same names. Addresses are written
/// unfolded (they read back exactly; RFC 5321 §4.5.3.1.3 keeps a path
/// within a line); the other values have controls turned into spaces and
/// are folded, so no reason or HELO name can add a field of its own.
///
/// The DSN parameters (RFC 3461 §4) are kept in fields of their own, in
/// the form MAIL and RCPT gave them (xtext, so no space inside a value):
/// a record without them reads as before, and a reader that does not know
/// them still finds every field it needs. A recipient's field names its
/// position among the `X-Postern-Recipient` fields (an address may be given
/// twice, with different parameters) and, for the reader, its address;
/// parameters come before the address, so a quoted local part cannot pass
/// for one.
public struct QuarantineRecord: Sendable, Equatable {
    public var id: QueueID
    /// The reverse-path without angle brackets; "" is the null sender.
    public var sender: String
    public var recipients: [String]
    public var clientAddress: String
    public var clientHelo: String?
    /// "ESMTP", "ESMTPS" … as in the Received line.
    public var receivedProtocol: String
    public var eightBitMIME: Bool
    public var smtpUTF8: Bool
    public var reason: String
    /// When it went into quarantine.
    public var date: Date
    /// RET= and ENVID= from MAIL (nil: not given).
    public var dsnReturn: DSNReturn?
    public var envelopeID: String?
    /// NOTIFY= and ORCPT= by position in `recipients`; a recipient not here had none.
    public var recipientParameters: [Int: RecipientParameters] = [:]

    static let fieldPrefix = "X-Postern-"
    static let lastField = "X-Postern-Quarantined"

    public init(id: QueueID, sender: String, recipients: [String], clientAddress: String, clientHelo: String?,
                receivedProtocol: String, eightBitMIME: Bool, smtpUTF8: Bool, reason: String, date: Date) {
        self.id = id
        self.sender = sender
        self.recipients = recipients
        self.clientAddress = clientAddress
        self.clientHelo = clientHelo
        self.receivedProtocol = receivedProtocol
        self.eightBitMIME = eightBitMIME
        self.smtpUTF8 = smtpUTF8
        self.reason = reason
        self.date = date
    }

    /// A queued message in state quarantine: every recipient still to be
    /// delivered is recorded (the message was never delivered to any).
    public init(envelope: Envelope, date: Date = Date()) {
        self.init(id: envelope.id, sender: envelope.sender, recipients: envelope.recipients.map(\.address),
                  clientAddress: envelope.clientAddress, clientHelo: envelope.clientHelo,
                  receivedProtocol: envelope.receivedProtocol, eightBitMIME: envelope.eightBitMIME,
                  smtpUTF8: envelope.smtpUTF8,
                  reason: envelope.quarantineReason ?? "quarantined by the policy (no reason recorded)", date: date)
        dsnReturn = envelope.dsnReturn
        envelopeID = envelope.envelopeID
        for (index, recipient) in envelope.recipients.enumerated() where recipient.dsn != RecipientParameters() {
            recipientParameters[index] = recipient.dsn
        }
    }

    /// The DSN parameters of the recipient at `index` (none if not recorded).
    public func parameters(at index: Int) -> RecipientParameters {
        recipientParameters[index] ?? RecipientParameters()
    }

    /// The record with only the recipients `keep` says yes to, each with its parameters.
    public func keeping(_ keep: (String) -> Bool) -> QuarantineRecord {
        var kept = self
        kept.recipients = []
        kept.recipientParameters = [:]
        for (index, recipient) in recipients.enumerated() where keep(recipient) {
            if let dsn = recipientParameters[index] { kept.recipientParameters[kept.recipients.count] = dsn }
            kept.recipients.append(recipient)
        }
        return kept
    }

    /// The fields, CRLF-terminated, that go above the message.
    public var headerFields: [UInt8] {
        func address(_ name: String, _ address: String) -> String {
            HeaderField.line(name: name, value: "<\(address)>", fold: false)
        }
        var text = address("Return-Path", sender)
        text += HeaderField.line(name: "X-Postern-Quarantine-ID", value: id.description)
        text += address("X-Postern-Sender", sender)
        for recipient in recipients { text += address("X-Postern-Recipient", recipient) }
        for (index, recipient) in recipients.enumerated() {
            guard let dsn = recipientParameters[index] else { continue }
            var words = [String(index)]
            if let notify = dsn.notify { words.append("NOTIFY=" + notify.parameterValue) }
            if let original = dsn.originalRecipient { words.append("ORCPT=" + original.parameterValue) }
            guard words.count > 1 else { continue }
            words.append("<\(recipient)>")
            text += HeaderField.line(name: "X-Postern-Recipient-DSN", value: words.joined(separator: " "), fold: false)
        }
        var dsn: [String] = []
        if let dsnReturn { dsn.append("RET=" + dsnReturn.rawValue) }
        // As RFC 3461 §4.4 allows it (an envelope file could hold anything).
        if let envelopeID, envelopeID.utf8.allSatisfy({ (32...126).contains($0) }),
           case let value = XText.encode(envelopeID), !value.isEmpty, value.utf8.count <= SMTPDefaults.maxEnvelopeIDLength {
            dsn.append("ENVID=" + value)
        }
        if !dsn.isEmpty { text += HeaderField.line(name: "X-Postern-DSN", value: dsn.joined(separator: " "), fold: false) }
        text += HeaderField.line(name: "X-Postern-Client", value: clientAddress + (clientHelo.map { " (\($0))" } ?? ""))
        var parameters = [receivedProtocol]
        if eightBitMIME { parameters.append("BODY=8BITMIME") }
        if smtpUTF8 { parameters.append("SMTPUTF8") }
        text += HeaderField.line(name: "X-Postern-Protocol", value: parameters.joined(separator: " "))
        text += HeaderField.line(name: "X-Postern-Reason", value: reason)
        text += HeaderField.line(name: Self.lastField, value: MessageDate.string(from: date))
        return Array(text.utf8)
    }

    /// Why a file does not start with the fields a quarantine writes.
    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case notQuarantined
        case incomplete
        case badField(String)

        public var description: String {
            switch self {
            case .notQuarantined: return "does not start with Return-Path (not written by the quarantine)"
            case .incomplete: return "no \(QuarantineRecord.lastField) field (not written by the quarantine, or cut short)"
            case .badField(let name): return "unreadable \(name) field"
            }
        }
    }

    /// Reads the fields at the start of `bytes` (a quarantine file, or its
    /// first octets). Returns the record and the number of octets the
    /// fields take: the message as it was queued starts there. The date
    /// is `X-Postern-Quarantined`'s time as the file name gives it
    /// (`fileDate`), which is cheaper and exact to the second.
    public static func parse(_ bytes: [UInt8], fileDate: Date) throws(ParseError) -> (record: QuarantineRecord, length: Int) {
        guard let length = fieldsLength(bytes) else {
            throw bytes.starts(with: Array("Return-Path:".utf8)) ? .incomplete : .notQuarantined
        }
        let section = HeaderSection(parsing: bytes[..<length])
        func value(_ name: String) throws(ParseError) -> String {
            guard let field = section.first(name) else { throw .badField(name) }
            return field.value
        }
        // Text values read as the writer writes them, so that a record
        // reads back as what it writes.
        let text = HeaderField.foldedValue
        func address(_ text: String, _ name: String) throws(ParseError) -> String {
            guard text.hasPrefix("<"), text.hasSuffix(">"), text.count >= 2 else { throw .badField(name) }
            // No path SMTP takes holds a control (RFC 5321 §4.1.2): such a
            // file was not written by us, and could not be written back.
            guard !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { throw .badField(name) }
            return String(text.dropFirst().dropLast())
        }
        guard let id = QueueID(try value("X-Postern-Quarantine-ID")) else { throw .badField("X-Postern-Quarantine-ID") }
        let sender = try address(try value("X-Postern-Sender"), "X-Postern-Sender")
        var recipients: [String] = []
        for field in section.all("X-Postern-Recipient") {
            recipients.append(try address(field.value, "X-Postern-Recipient"))
        }
        guard !recipients.isEmpty else { throw .badField("X-Postern-Recipient") }
        let client = text(try value("X-Postern-Client"))
        // "ADDRESS (HELO)", as written: the HELO name is what the parentheses
        // after the address hold (a damaged address may hold one too).
        let clientAddress = String(client.prefix { $0 != " " })
        var helo: String?
        let afterAddress = client.dropFirst(clientAddress.count + 1)
        if afterAddress.count >= 2, afterAddress.hasPrefix("("), afterAddress.hasSuffix(")") {
            helo = String(afterAddress.dropFirst().dropLast())
        }
        let parameters = text(section.first("X-Postern-Protocol")?.value ?? "ESMTP").split(separator: " ")
        var record = QuarantineRecord(id: id, sender: sender, recipients: recipients, clientAddress: clientAddress,
                                      clientHelo: helo, receivedProtocol: parameters.first.map(String.init) ?? "ESMTP",
                                      eightBitMIME: parameters.contains("BODY=8BITMIME"), smtpUTF8: parameters.contains("SMTPUTF8"),
                                      reason: text(try value("X-Postern-Reason")), date: fileDate)
        // DSN parameters are kept only when they read back whole and name a
        // recipient of the record: without them a held message is still
        // released, reported on as if none had been given.
        for field in section.all("X-Postern-Recipient-DSN") {
            let position = field.value.prefix { $0 != " " }
            guard position.count <= 6, position.allSatisfy({ ("0"..."9").contains($0) }), let index = Int(position),
                  recipients.indices.contains(index), record.recipientParameters[index] == nil,
                  let (words, path) = dsnWords(String(field.value.dropFirst(position.count + 1)), path: true),
                  path == "<\(recipients[index])>",
                  let dsn = try? RecipientParameters(parsing: words) else { continue }
            record.recipientParameters[index] = dsn
        }
        // RET and ENVID each on its own: one unreadable value does not cost the other.
        if let field = section.first("X-Postern-DSN"), let (words, _) = dsnWords(field.value, path: false) {
            for word in words where word.keyword == "RET" || word.keyword == "ENVID" {
                guard let mail = try? MailParameters(parsing: [word], maxMessageSize: 0) else { continue }
                record.dsnReturn = mail.dsnReturn ?? record.dsnReturn
                record.envelopeID = mail.envelopeID ?? record.envelopeID
            }
        }
        return (record, length)
    }

    /// "KEYWORD=value" words separated by single spaces, then (`path`) the
    /// rest from the first "<" to a closing ">" at the end.
    private static func dsnWords(_ value: String, path: Bool) -> ([ESMTPParameter], String)? {
        var words: [ESMTPParameter] = []
        var rest = Substring(value)
        while !rest.isEmpty, rest.first != "<" {
            let word = rest.prefix { $0 != " " }
            rest = rest.dropFirst(word.count).drop { $0 == " " }
            guard let equals = word.firstIndex(of: "="), equals != word.startIndex else { return nil }
            words.append(ESMTPParameter(keyword: word[..<equals].uppercased(), value: String(word[word.index(after: equals)...])))
        }
        guard !words.isEmpty else { return nil }
        if path {
            guard rest.count >= 2, rest.hasSuffix(">") else { return nil }
        } else if !rest.isEmpty {
            return nil
        }
        return (words, String(rest))
    }

    /// Octets from the start through the end of `X-Postern-Quarantined` and
    /// its continuation lines; nil when the fields are not all there. Names
    /// are matched as written (we wrote them).
    static func fieldsLength(_ bytes: [UInt8]) -> Int? {
        guard bytes.starts(with: Array("Return-Path:".utf8)) else { return nil }
        let last = Array((lastField + ":").utf8)
        var lineStart = 0
        var sawLast = false
        while lineStart < bytes.count {
            guard let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            let first = bytes[lineStart]
            let continues = first == UInt8(ascii: " ") || first == UInt8(ascii: "\t")
            if sawLast, !continues { return lineStart }
            if !continues, bytes[lineStart...].starts(with: last) {
                sawLast = true
            }
            lineStart = newline + 1
        }
        return sawLast ? lineStart : nil
    }
}
