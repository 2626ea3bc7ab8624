import Foundation
import MailMessage

/// What a quarantine file records about its message, as header fields
/// written above the message exactly as it would have been delivered:
///
///     Return-Path: <alice@example.org>
///     X-Postern-Quarantine-ID: 0005F1A2B3C4D5E6
///     X-Postern-Sender: <alice@example.org>
///     X-Postern-Recipient: <bob@example.net>       (one per recipient)
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
        func address(_ text: String, _ name: String) throws(ParseError) -> String {
            guard text.hasPrefix("<"), text.hasSuffix(">"), text.count >= 2 else { throw .badField(name) }
            return String(text.dropFirst().dropLast())
        }
        guard let id = QueueID(try value("X-Postern-Quarantine-ID")) else { throw .badField("X-Postern-Quarantine-ID") }
        let sender = try address(try value("X-Postern-Sender"), "X-Postern-Sender")
        var recipients: [String] = []
        for field in section.all("X-Postern-Recipient") {
            recipients.append(try address(field.value, "X-Postern-Recipient"))
        }
        guard !recipients.isEmpty else { throw .badField("X-Postern-Recipient") }
        let client = try value("X-Postern-Client")
        let clientAddress = String(client.prefix { $0 != " " })
        var helo: String?
        if let open = client.firstIndex(of: "("), let close = client.lastIndex(of: ")"), open < close {
            helo = String(client[client.index(after: open)..<close])
        }
        let parameters = (section.first("X-Postern-Protocol")?.value ?? "ESMTP").split(separator: " ")
        return (QuarantineRecord(id: id, sender: sender, recipients: recipients, clientAddress: clientAddress,
                                 clientHelo: helo, receivedProtocol: parameters.first.map(String.init) ?? "ESMTP",
                                 eightBitMIME: parameters.contains("BODY=8BITMIME"), smtpUTF8: parameters.contains("SMTPUTF8"),
                                 reason: try value("X-Postern-Reason"), date: fileDate), length)
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
