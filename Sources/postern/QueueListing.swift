import ArgumentParser
import Foundation
import MailQueue

/// Which queued messages a `queue list` or `queue summary` shows.
struct QueueFilter {
    var sender: NSRegularExpression?
    var recipient: NSRegularExpression?
    var state: Envelope.State?
    /// Only messages that arrived before this.
    var arrivedBefore: Date?
    var domain: String?

    func matches(_ envelope: Envelope) -> Bool {
        if let state, envelope.state != state { return false }
        if let arrivedBefore, envelope.created >= arrivedBefore { return false }
        if let sender, !Self.search(sender, envelope.sender) { return false }
        if let recipient, !envelope.recipients.contains(where: { Self.search(recipient, $0.address) }) { return false }
        if let domain = domain?.lowercased(),
           !envelope.recipients.contains(where: { $0.domain == domain }) { return false }
        return true
    }

    /// `--state`, for list and summary.
    static func parseState(_ text: String) throws -> Envelope.State {
        guard let state = Envelope.State(rawValue: text) else {
            throw ValidationError("--state must be one of: \(Envelope.State.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return state
    }

    static func search(_ expression: NSRegularExpression, _ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}

/// The forms a queue listing takes: like `postqueue -p` for people, one
/// JSON object per line like `postqueue -j` for scripts, and a
/// destination × age table like Postfix's qshape.
enum QueueListing {
    /// `!` held, `#` quarantined, `~` deferred (waiting for a retry).
    static func mark(_ state: Envelope.State) -> String {
        switch state {
        case .ready: return " "
        case .deferred: return "~"
        case .hold: return "!"
        case .quarantine: return "#"
        }
    }

    static func human(_ envelopes: [Envelope], unreadable: [(String, String)]) -> String {
        guard !envelopes.isEmpty || !unreadable.isEmpty else { return "Mail queue is empty\n" }
        var out = "-Queue ID-------- --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
        let pad = String(repeating: " ", count: 50)
        for envelope in envelopes {
            out += "\(envelope.id)\(mark(envelope.state)) \(leftPad(String(envelope.size), 8)) \(arrival(envelope.created))  "
                + "\(envelope.sender.isEmpty ? "MAILER-DAEMON" : envelope.sender)\n"
            if envelope.state == .quarantine || envelope.state == .hold {
                out += pad + "(\(envelope.state == .hold ? "held by the operator" : "quarantined"))\n"
            }
            // As postqueue: a reason once, above the recipients waiting for it.
            var lastReason: String?
            for recipient in envelope.recipients where recipient.status.isUndelivered {
                let reason = recipient.status == .deferred ? recipient.lastReply : nil
                if let reason, reason != lastReason { out += pad + "(\(reason))\n" }
                lastReason = reason
                out += pad + recipient.address + "\n"
            }
            out += "\n"
        }
        for (id, reason) in unreadable { out += "\(id)? unreadable: \(reason)\n\n" }
        let kbytes = (envelopes.reduce(0) { $0 + $1.size } + 1023) / 1024
        let count = envelopes.count + unreadable.count
        out += "-- \(kbytes) Kbytes in \(count) Request\(count == 1 ? "" : "s").\n"
        return out
    }

    /// The fields of `postqueue -j` (queue_name, queue_id, arrival_time,
    /// message_size, sender, recipients[].address, recipients[].delay_reason)
    /// and Postern's own (id, state, created, attempts, history, …).
    static func object(_ entry: QueueReader.Entry) -> [String: Any] {
        switch entry {
        case .unreadable(let id, let reason):
            return ["id": id, "queue_id": id, "state": "unreadable", "queue_name": "corrupt", "error": reason]
        case .envelope(let env):
            var object: [String: Any] = [
                "id": env.id.description, "queue_id": env.id.description, "queue_name": env.state.rawValue,
                "sender": env.sender, "size": env.size, "message_size": env.size, "state": env.state.rawValue,
                "created": isoDate(env.created), "arrival_time": Int(env.created.timeIntervalSince1970),
                "attempts": env.attempts, "client": env.clientAddress, "protocol": env.receivedProtocol,
                "recipients": env.recipients.map { rcpt -> [String: Any] in
                    var r: [String: Any] = ["address": rcpt.address, "status": rcpt.status.rawValue]
                    if let reply = rcpt.lastReply {
                        r["last_reply"] = reply
                        if rcpt.status == .deferred { r["delay_reason"] = reply }
                    }
                    return r
                },
                "history": env.history.map { attempt -> [String: Any] in
                    var a: [String: Any] = ["time": isoDate(attempt.time), "result": attempt.result.rawValue, "reply": attempt.reply,
                                            "recipients": attempt.recipients.map { env.recipients[$0].address }]
                    if let hop = attempt.nextHop { a["next_hop"] = hop }
                    return a
                },
            ]
            if let helo = env.clientHelo { object["helo"] = helo }
            if let next = env.nextAttempt { object["next_attempt"] = isoDate(next) }
            if let reply = env.lastReply { object["last_reply"] = reply }
            return object
        }
    }

    static func json(_ value: Any, pretty: Bool) throws -> String {
        let options: JSONSerialization.WritingOptions = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        return String(decoding: try JSONSerialization.data(withJSONObject: value, options: options), as: UTF8.self)
    }

    /// Age buckets of qshape (minutes): 0 5 10 20 40 80 160 320 640 1280 and older.
    static let ageBuckets = [5, 10, 20, 40, 80, 160, 320, 640, 1280]

    /// Undelivered recipients per destination domain and age (qshape).
    static func summary(_ envelopes: [Envelope], now: Date) -> String {
        var rows: [String: [Int]] = [:]
        for envelope in envelopes {
            let minutes = Int(now.timeIntervalSince(envelope.created) / 60)
            let bucket = ageBuckets.firstIndex { minutes < $0 } ?? ageBuckets.count
            for recipient in envelope.recipients where recipient.status.isUndelivered {
                rows[recipient.domain ?? "(local)", default: Array(repeating: 0, count: ageBuckets.count + 1)][bucket] += 1
            }
        }
        let headers = ["T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"]
        let sorted = rows.sorted { $0.value.reduce(0, +) == $1.value.reduce(0, +) ? $0.key < $1.key
                                                                                 : $0.value.reduce(0, +) > $1.value.reduce(0, +) }
        let width = max(6, sorted.map(\.key.count).max() ?? 0)
        func line(_ name: String, _ counts: [Int]) -> String {
            leftPad(name, width) + " " + ([counts.reduce(0, +)] + counts).map { leftPad(String($0), 5) }.joined(separator: " ") + "\n"
        }
        var out = leftPad("", width) + " " + headers.map { leftPad($0, 5) }.joined(separator: " ") + "\n"
        let totals = (0...ageBuckets.count).map { index in rows.values.reduce(0) { $0 + $1[index] } }
        out += line("TOTAL", totals)
        for (domain, counts) in sorted { out += line(domain, counts) }
        return out
    }

    static func isoDate(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// "Sun Dec  6 17:42:08", as postqueue prints arrival times.
    static func arrival(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "EEE MMM d HH:mm:ss"
        let text = formatter.string(from: date)
        // Day of month padded to two columns, as ctime(3) does.
        let parts = text.split(separator: " ")
        return "\(parts[0]) \(parts[1]) \(leftPad(String(parts[2]), 2)) \(parts[3])"
    }

    static func leftPad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
