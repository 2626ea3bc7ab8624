import ArgumentParser
import Foundation
import MailQueue

struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Inspect the queue (reads the queue directory; the daemon need not run).",
        subcommands: [List.self, Show.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List queued messages, oldest first.")

        @Flag(help: "Print a JSON array.")
        var json = false

        @Option(name: .customLong("queue-dir"), help: "Queue directory.")
        var queueDir = "./var/queue"

        func run() throws {
            let entries = try QueueReader(directory: queueDir).list()
            if json {
                print(try QueueJSON.render(entries.map(QueueJSON.object)))
                return
            }
            if entries.isEmpty { print("Queue is empty (\(queueDir))") }
            for entry in entries {
                switch entry {
                case .envelope(let env):
                    let rcpts = env.recipients.map(\.address).joined(separator: ", ")
                    print("\(env.id)  \(QueueJSON.isoDate(env.created))  \(env.size) octets  \(env.state.rawValue)  <\(env.sender)> -> \(rcpts)")
                case .unreadable(let id, let reason):
                    print("\(id)  unreadable: \(reason)")
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one message's envelope, and its body with --body.")

        @Argument(help: "Queue ID.")
        var id: String

        @Flag(help: "Print the message itself after the envelope.")
        var body = false

        @Flag(help: "Print the envelope as JSON.")
        var json = false

        @Option(name: .customLong("queue-dir"), help: "Queue directory.")
        var queueDir = "./var/queue"

        func run() throws {
            guard let queueID = QueueID(id) else { throw ValidationError("not a queue ID: \(id)") }
            let reader = QueueReader(directory: queueDir)
            let envelope: Envelope
            do {
                envelope = try reader.envelope(id: queueID)
            } catch {
                FileHandle.standardError.write(Data("postern: no readable message \(id) in \(queueDir): \(error)\n".utf8))
                throw ExitCode(1)
            }
            if json {
                print(try QueueJSON.render(QueueJSON.object(.envelope(envelope))))
            } else {
                print("id: \(envelope.id)")
                print("created: \(QueueJSON.isoDate(envelope.created))")
                print("state: \(envelope.state.rawValue)")
                print("sender: <\(envelope.sender)>")
                print("size: \(envelope.size)")
                print("attempts: \(envelope.attempts)")
                if let next = envelope.nextAttempt { print("next-attempt: \(QueueJSON.isoDate(next))") }
                if let reply = envelope.lastReply { print("last-reply: \(reply)") }
                print("client: \(envelope.clientAddress) (\(envelope.clientHelo ?? "-")) \(envelope.receivedProtocol)")
                for rcpt in envelope.recipients {
                    print("recipient: <\(rcpt.address)> \(rcpt.status.rawValue)\(rcpt.lastReply.map { " (\($0))" } ?? "")")
                }
                for attempt in envelope.history {
                    let who = attempt.recipients.map { "<\(envelope.recipients[$0].address)>" }.joined(separator: " ")
                    print("attempt: \(QueueJSON.isoDate(attempt.time)) \(attempt.result.rawValue) via \(attempt.nextHop ?? "-") \(who): \(attempt.reply)")
                }
            }
            if body {
                if !json { print("") }
                fflush(nil) // the envelope first, then the raw body
                FileHandle.standardOutput.write(Data(try reader.body(id: queueID)))
            }
        }
    }
}

/// The JSON shape of `queue list --json` and `queue show --json`.
enum QueueJSON {
    static func object(_ entry: QueueReader.Entry) -> [String: Any] {
        switch entry {
        case .unreadable(let id, let reason):
            return ["id": id, "state": "unreadable", "error": reason]
        case .envelope(let env):
            var object: [String: Any] = [
                "id": env.id.description, "sender": env.sender, "size": env.size, "state": env.state.rawValue,
                "created": isoDate(env.created), "attempts": env.attempts, "client": env.clientAddress,
                "protocol": env.receivedProtocol,
                "recipients": env.recipients.map { rcpt -> [String: Any] in
                    var r: [String: Any] = ["address": rcpt.address, "status": rcpt.status.rawValue]
                    if let reply = rcpt.lastReply { r["last_reply"] = reply }
                    return r
                },
            ]
            if let helo = env.clientHelo { object["helo"] = helo }
            object["history"] = env.history.map { attempt -> [String: Any] in
                var a: [String: Any] = ["time": isoDate(attempt.time), "result": attempt.result.rawValue, "reply": attempt.reply,
                                        "recipients": attempt.recipients.map { env.recipients[$0].address }]
                if let hop = attempt.nextHop { a["next_hop"] = hop }
                return a
            }
            if let next = env.nextAttempt { object["next_attempt"] = isoDate(next) }
            if let reply = env.lastReply { object["last_reply"] = reply }
            return object
        }
    }

    static func render(_ value: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static func isoDate(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
