import Foundation
import SMTPCore

/// The envelope's file format: line-oriented text, a version line first and
/// an explicit end marker last, so a torn or truncated file is recognised
/// and set aside instead of being half-read.
///
///     postern-envelope 2
///     id 0005F1A2B3C4D5E6
///     created 1764277000.123456
///     sender alice@example.org
///     …
///     header X-Spam-Flag:%20NO%0D%0A
///     attempt 1764277300.000000 deferred mx.example.net 0,1 451%204.3.0%20try%20later
///     rcpt pending - bob@example.net
///     end
///
/// Values are percent-encoded where they hold space, controls or '%'.
/// Version 2 added `header` (fields written ahead of the body) and
/// `attempt` (the delivery history); version 1 files, which have neither,
/// are read as they are and written back as version 2 at their next update.
/// Version 3 adds `body-offset` (the body file's first octets are replaced
/// by the `header` lines); it is written only when that offset is not 0, so
/// every other envelope stays readable by a version-2 binary, and one that
/// is not is refused by it rather than sent with its header section twice.
/// `quarantine-reason` and `released-from` (any version) are read only by binaries that know it;
/// older ones ignore them, as they ignore every field they do not know.
/// The DSN parameters (RFC 3461) work the same way, in any version: `dsn-ret
/// FULL|HDRS` and `dsn-envid ENVID` (decoded, percent-encoded) from MAIL,
/// and one `dsn-rcpt INDEX NOTIFY|- ORCPT|-` line per recipient that gave
/// NOTIFY or ORCPT (INDEX counts the `rcpt` lines from 0; ORCPT in its
/// xtext parameter form). They are separate lines, not more tokens on
/// `rcpt` (whose address runs to the end of the line), so an older binary
/// reads such an envelope and delivers as before; it only drops them if it
/// rewrites the file. An envelope without them reads as it always did.
/// Version 4 has the fields of version 3 and says where the envelope
/// lives: in a message record (`ID.msg`, after the body, see `MessageRecord`)
/// or in the sidecar `ID.env` that supersedes it after a status change.
/// Envelopes of the older two-file layout (`ID.eml` + `ID.env`) keep
/// versions 1 to 3 when updated, so such a queue stays readable by the
/// binaries that wrote it, and a lone version-4 `ID.env` is recognised as
/// the leftover of a removal. Every version ends at an `end` line.
public enum EnvelopeCodec {
    static let magic = "postern-envelope 2"
    static let magicWithOffset = "postern-envelope 3"
    static let magicRecord = "postern-envelope 4"
    static let readableVersions: Set<Substring> = ["postern-envelope 1", "postern-envelope 2", "postern-envelope 3",
                                                   "postern-envelope 4"]

    public enum DecodeError: Error, CustomStringConvertible, Equatable {
        case badHeader
        case missingEnd
        case badLine(Int, String)
        case missingField(String)
        case inconsistent(String)
        /// A message record without its trailer: torn, or never committed.
        case noTrailer

        public var description: String {
            switch self {
            case .badHeader: return "not a version 1 to 4 envelope"
            case .missingEnd: return "no end marker (truncated)"
            case .badLine(let line, let why): return "line \(line): \(why)"
            case .missingField(let name): return "missing field \(name)"
            case .inconsistent(let why): return why
            case .noTrailer: return "no record trailer (torn or never committed)"
            }
        }
    }

    /// Built as octets, not by string interpolation: it runs at every
    /// commit (issue #15: a third of the cost was String appends).
    public static func encode(_ envelope: Envelope) -> [UInt8] {
        let version = switch envelope.layout {
        case .record: magicRecord
        case .pair: envelope.bodyOffset > 0 ? magicWithOffset : magic
        }
        var out: [UInt8] = []
        out.reserveCapacity(384 + envelope.recipients.count * 64 + envelope.history.count * 96)
        func text(_ value: String) { out.append(contentsOf: value.utf8) }
        func space() { out.append(UInt8(ascii: " ")) }
        func field(_ name: String, _ value: String) {
            text(name)
            space()
            percentEncode(value, into: &out)
            out.append(UInt8(ascii: "\n"))
        }
        func field(_ name: String, number: Int) {
            text(name)
            space()
            decimal(number, into: &out)
            out.append(UInt8(ascii: "\n"))
        }
        func field(_ name: String, time: Date) {
            text(name)
            space()
            timestamp(time, into: &out)
            out.append(UInt8(ascii: "\n"))
        }
        text(version)
        out.append(UInt8(ascii: "\n"))
        field("id", envelope.id.description)
        field("created", time: envelope.created)
        field("sender", envelope.sender)
        field("size", number: envelope.size)
        field("state", envelope.state.rawValue)
        field("attempts", number: envelope.attempts)
        if let next = envelope.nextAttempt { field("next-attempt", time: next) }
        if let reply = envelope.lastReply { field("last-reply", reply) }
        field("client", envelope.clientAddress)
        if let helo = envelope.clientHelo { field("helo", helo) }
        field("protocol", envelope.receivedProtocol)
        field("8bitmime", envelope.eightBitMIME ? "1" : "0")
        field("smtputf8", envelope.smtpUTF8 ? "1" : "0")
        if envelope.delayWarned { field("delay-warned", "1") }
        for header in envelope.addedHeaders { field("header", header) }
        if envelope.bodyOffset > 0 { field("body-offset", number: envelope.bodyOffset) }
        if let reason = envelope.quarantineReason { field("quarantine-reason", reason) }
        if let origin = envelope.releasedFrom { field("released-from", origin.description) }
        if let ret = envelope.dsnReturn { field("dsn-ret", ret.rawValue) }
        if let envid = envelope.envelopeID { field("dsn-envid", envid) }
        for (index, rcpt) in envelope.recipients.enumerated() where rcpt.dsn != RecipientParameters() {
            text("dsn-rcpt ")
            decimal(index, into: &out)
            space()
            text(rcpt.dsn.notify?.parameterValue ?? "-")
            space()
            if let orcpt = rcpt.dsn.originalRecipient { percentEncode(orcpt.parameterValue, into: &out) } else { text("-") }
            out.append(UInt8(ascii: "\n"))
        }
        for attempt in envelope.history {
            text("attempt ")
            timestamp(attempt.time, into: &out)
            space()
            text(attempt.result.rawValue)
            space()
            if let hop = attempt.nextHop { percentEncode(hop, into: &out) } else { text("-") }
            space()
            if attempt.recipients.isEmpty { text("-") }
            for (position, recipient) in attempt.recipients.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                decimal(recipient, into: &out)
            }
            space()
            percentEncode(attempt.reply, into: &out)
            out.append(UInt8(ascii: "\n"))
        }
        for rcpt in envelope.recipients {
            text("rcpt ")
            text(rcpt.status.rawValue)
            space()
            // "-" stands for no reply, so a reply that is just "-" goes encoded.
            switch rcpt.lastReply {
            case nil: text("-")
            case "-": text("%2D")
            case let reply?: percentEncode(reply, into: &out)
            }
            space()
            percentEncode(rcpt.address, into: &out)
            out.append(UInt8(ascii: "\n"))
        }
        text("end\n")
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Envelope {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first, readableVersions.contains(first) else { throw .badHeader }
        if lines.last == "" { lines.removeLast() }
        guard lines.last == "end" else { throw .missingEnd }
        var fields: [String: String] = [:]
        var recipients: [Envelope.Recipient] = []
        var headers: [String] = []
        var history: [Envelope.Attempt] = []
        var recipientDSN: [Int: RecipientParameters] = [:]
        for (number, line) in lines.enumerated().dropFirst().dropLast() {
            guard let space = line.firstIndex(of: " ") else { throw .badLine(number + 1, "no value") }
            let name = String(line[..<space])
            let rest = line[line.index(after: space)...]
            if name == "attempt" {
                guard let attempt = decodeAttempt(rest) else { throw .badLine(number + 1, "bad attempt") }
                history.append(attempt)
                continue
            }
            if name == "header" {
                guard let header = percentDecode(rest) else { throw .badLine(number + 1, "bad encoding") }
                headers.append(header)
                continue
            }
            if name == "dsn-rcpt" {
                guard let decoded = decodeRecipientDSN(rest), recipientDSN[decoded.index] == nil else {
                    throw .badLine(number + 1, "bad dsn-rcpt")
                }
                recipientDSN[decoded.index] = decoded.parameters
                continue
            }
            if name == "rcpt" {
                let parts = rest.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count == 3, let status = Envelope.Recipient.Status(rawValue: String(parts[0])),
                      let address = percentDecode(parts[2]) else { throw .badLine(number + 1, "bad recipient") }
                let reply = parts[1] == "-" ? nil : percentDecode(parts[1])
                recipients.append(Envelope.Recipient(address: address, status: status, lastReply: reply))
                continue
            }
            guard let value = percentDecode(rest) else { throw .badLine(number + 1, "bad encoding") }
            fields[name] = value
        }
        func required(_ name: String) throws(DecodeError) -> String {
            guard let value = fields[name] else { throw .missingField(name) }
            return value
        }
        guard let id = QueueID(try required("id")) else { throw .missingField("id") }
        guard let created = date(try required("created")) else { throw .missingField("created") }
        guard let size = Int(try required("size")) else { throw .missingField("size") }
        guard let state = Envelope.State(rawValue: try required("state")) else { throw .missingField("state") }
        guard let attempts = Int(try required("attempts")) else { throw .missingField("attempts") }
        guard !recipients.isEmpty else { throw .missingField("rcpt") }
        for (index, parameters) in recipientDSN {
            guard recipients.indices.contains(index) else { throw .inconsistent("dsn-rcpt names no such recipient") }
            recipients[index].dsn = parameters
        }
        var envelope = Envelope(id: id, created: created, sender: try required("sender"), recipients: recipients,
                        size: size, state: state, attempts: attempts,
                        nextAttempt: fields["next-attempt"].flatMap(date), lastReply: fields["last-reply"],
                        clientAddress: try required("client"), clientHelo: fields["helo"],
                        receivedProtocol: try required("protocol"),
                        eightBitMIME: fields["8bitmime"] == "1", smtpUTF8: fields["smtputf8"] == "1")
        envelope.layout = first == magicRecord ? .record : .pair
        envelope.delayWarned = fields["delay-warned"] == "1"
        envelope.addedHeaders = headers
        envelope.quarantineReason = fields["quarantine-reason"]
        envelope.releasedFrom = fields["released-from"].flatMap { QueueID($0) }
        if let ret = fields["dsn-ret"] {
            guard let value = DSNReturn(rawValue: ret) else { throw .inconsistent("bad dsn-ret") }
            envelope.dsnReturn = value
        }
        envelope.envelopeID = fields["dsn-envid"]
        if let offset = fields["body-offset"] {
            guard let value = Int(offset), (0...size).contains(value) else { throw .inconsistent("body-offset outside the body") }
            envelope.bodyOffset = value
        }
        for attempt in history {
            guard attempt.recipients.allSatisfy(recipients.indices.contains) else { throw .inconsistent("attempt names no such recipient") }
            envelope.record(attempt)
        }
        return envelope
    }

    /// `INDEX NOTIFY|- ORCPT|-`
    private static func decodeRecipientDSN(_ text: Substring) -> (index: Int, parameters: RecipientParameters)? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, let index = Int(parts[0]), index >= 0 else { return nil }
        var parameters = RecipientParameters()
        if parts[1] != "-" {
            guard let notify = try? DSNNotify(parameter: String(parts[1])) else { return nil }
            parameters.notify = notify
        }
        if parts[2] != "-" {
            guard let orcpt = percentDecode(parts[2]), let value = try? OriginalRecipient(parameter: orcpt) else { return nil }
            parameters.originalRecipient = value
        }
        return (index, parameters)
    }

    /// `TIME RESULT HOP|- INDEX[,INDEX…]|- REPLY`
    private static func decodeAttempt(_ text: Substring) -> Envelope.Attempt? {
        let parts = text.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, let time = date(String(parts[0])),
              let result = Envelope.Attempt.Result(rawValue: String(parts[1])),
              let reply = percentDecode(parts[4]) else { return nil }
        let hop = parts[2] == "-" ? nil : percentDecode(parts[2])
        guard parts[2] == "-" || hop != nil else { return nil }
        var indices: [Int] = []
        if parts[3] != "-" {
            for item in parts[3].split(separator: ",", omittingEmptySubsequences: false) {
                guard let index = Int(item), index >= 0 else { return nil }
                indices.append(index)
            }
        }
        return Envelope.Attempt(time: time, result: result, nextHop: hop, recipients: indices, reply: reply)
    }

    /// Seconds with six decimals, without String(format:) (slow on Linux).
    static func timestamp(_ date: Date) -> String {
        var out: [UInt8] = []
        timestamp(date, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Seconds since the epoch with six decimals ("1700000000.250000").
    static func timestamp(_ date: Date, into out: inout [UInt8]) {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        decimal(Int(micros / 1_000_000), into: &out)
        out.append(UInt8(ascii: "."))
        let fraction = Int(abs(micros % 1_000_000))
        var divisor = 100_000
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
            divisor /= 10
        }
    }

    /// `value` in decimal (a small string: no allocation).
    static func decimal(_ value: Int, into out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }

    /// Timestamps an envelope can hold: from the epoch to the year 5138.
    /// Anything else (NaN, infinities, 1e300, negative) comes from a damaged
    /// file and could not be written back: `timestamp` needs Int64 microseconds.
    static let timestampRange = 0.0..<1e11

    static func date(_ text: String) -> Date? {
        guard let seconds = Double(text), timestampRange.contains(seconds) else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    static func percentEncode(_ value: String) -> String {
        var out: [UInt8] = []
        percentEncode(value, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Control octets, space, DEL and "%" as %XX; an empty value as "%"
    /// (it still needs a token).
    static func percentEncode(_ value: String, into out: inout [UInt8]) {
        if value.isEmpty { return out.append(UInt8(ascii: "%")) }
        // The octets in place (withUTF8), and a value that needs no escape
        // (most) in one append (issue #15).
        let needsEscape = { (octet: UInt8) in octet <= 0x20 || octet == 0x7F || octet == UInt8(ascii: "%") }
        var value = value
        value.withUTF8 { octets in
            guard octets.contains(where: needsEscape) else { return out.append(contentsOf: octets) }
            let hex: StaticString = "0123456789ABCDEF"
            for byte in octets {
                if needsEscape(byte) {
                    out.append(UInt8(ascii: "%"))
                    out.append(hex.utf8Start[Int(byte >> 4)])
                    out.append(hex.utf8Start[Int(byte & 0xF)])
                } else {
                    out.append(byte)
                }
            }
        }
    }

    static func percentDecode(_ text: Substring) -> String? {
        if text == "%" { return "" }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                      let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
