import ArgumentParser
import Foundation
import MailQueue
import PosternDaemon

struct QuarantineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "Inspect the quarantine Maildir (list, show read it directly) and release or delete its messages.",
        subcommands: [List.self, Show.self, Release.self, Delete.self])

    /// Where the Maildir and the daemon's control socket are.
    struct Location: ParsableArguments {
        @OptionGroup var queue: QueueCommand.Location

        @Option(name: .customLong("quarantine-dir"),
                help: "Quarantine Maildir (default: [quarantine] directory, or quarantine in the queue directory).")
        var quarantineDir: String?

        func maildir() throws -> QuarantineMaildir {
            QuarantineMaildir(directory: try quarantineDir ?? queue.settings().quarantineDirectory)
        }
    }

    /// One message of the Maildir with what its fields say (or why they cannot be read).
    struct Item {
        var entry: QuarantineMaildir.Entry
        var record: QuarantineRecord?
        /// The message as it was queued, without the quarantine's fields.
        var size: Int
        var error: String?

        init(_ entry: QuarantineMaildir.Entry, in maildir: QuarantineMaildir) {
            self.entry = entry
            let fileSize = (try? maildir.size(of: entry)) ?? 0
            do {
                let (record, offset) = try maildir.read(entry)
                self.record = record
                size = fileSize - offset
            } catch {
                size = fileSize
                self.error = "\(error)"
            }
        }

        var object: [String: Any] {
            var object: [String: Any] = ["id": entry.id.description, "file": entry.path, "size": size,
                                         "date": QueueListing.isoDate(entry.date)]
            if let record {
                object["sender"] = record.sender
                object["recipients"] = record.recipients
                object["reason"] = record.reason
                object["client"] = record.clientAddress
                object["protocol"] = record.receivedProtocol
                if let helo = record.clientHelo { object["helo"] = helo }
            }
            if let error { object["error"] = error }
            return object
        }
    }

    /// The message named `text`, or a message on standard error and exit 1.
    static func find(_ text: String, in maildir: QuarantineMaildir) throws -> QuarantineMaildir.Entry {
        guard let id = QueueID(text) else { fail("not a quarantine ID: \(text) (16 hex digits)") }
        guard let entry = try maildir.entry(id: id) else {
            fail("no such message in the quarantine: \(text) (in \(maildir.directory))")
        }
        return entry
    }

    /// Sends a release or delete to the daemon and prints the outcome.
    /// `offline`: what to do when no daemon runs (nil: say so, exit 1).
    static func send(_ command: ControlRequest.Command, _ ids: [String], location: Location,
                     offline: (([String]) throws -> ControlReply)? = nil) throws {
        let named = ControlCommandOutput.expand(ids)
        guard !named.isEmpty else { throw ValidationError("name quarantine IDs (or - to read them from standard input)") }
        let reply: ControlReply
        do {
            reply = try ControlClient(path: try location.queue.socketPath()).send(ControlRequest(command: command, ids: named))
        } catch let error as ControlClient.Failure {
            guard case .notRunning = error, let offline else { fail("\(error)") }
            reply = try offline(named)
        } catch {
            fail("\(error)")
        }
        try ControlCommandOutput.print(reply, for: command)
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("postern: \(message)\n".utf8))
        Foundation.exit(1)
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List quarantined messages, oldest first: ID, date, size, sender, reason, recipients.",
            discussion: "Reads the Maildir directly; the daemon need not run. --json prints one object per line.")

        @Flag(help: "One JSON object per message and line (id, date, size, sender, recipients, reason, client, file).")
        var json = false

        @OptionGroup var location: Location

        func run() throws {
            let maildir = try location.maildir()
            let items = try maildir.entries().map { Item($0, in: maildir) }
            if json {
                for item in items { print(try QueueListing.json(item.object, pretty: false)) }
                return
            }
            guard !items.isEmpty else {
                print("Quarantine is empty")
                return
            }
            print("-Quarantine ID--- --Size-- ----Quarantined----- -Sender/Recipient-------")
            let pad = String(repeating: " ", count: 50)
            for item in items {
                let sender = item.record.map { $0.sender.isEmpty ? "MAILER-DAEMON" : $0.sender } ?? "?"
                let size = QueueListing.leftPad(String(item.size), 8)
                print("\(item.entry.id)  \(size) \(QueueListing.arrival(item.entry.date))  \(sender)")
                if let record = item.record {
                    print(pad + "(\(record.reason))")
                    for recipient in record.recipients { print(pad + recipient) }
                } else {
                    print(pad + "(unreadable: \(item.error ?? "?"))")
                }
                print("")
            }
            let kbytes = (items.reduce(0) { $0 + $1.size } + 1023) / 1024
            print("-- \(kbytes) Kbytes in \(items.count) Message\(items.count == 1 ? "" : "s").")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one quarantined message: envelope and reason; the message itself with --body.")

        @Argument(help: "Quarantine ID (the queue ID the message had).")
        var id: String

        @Flag(help: "Print the message after the envelope, as it was received (without the quarantine's fields).")
        var body = false

        @Flag(help: "Print the envelope as JSON.")
        var json = false

        @OptionGroup var location: Location

        func run() throws {
            let maildir = try location.maildir()
            let item = Item(try find(id, in: maildir), in: maildir)
            guard let record = item.record else {
                fail("\(id): unreadable quarantine file \(item.entry.path): \(item.error ?? "?")")
            }
            if json {
                print(try QueueListing.json(item.object, pretty: true))
            } else {
                print("id: \(record.id)")
                print("quarantined: \(QueueListing.isoDate(item.entry.date))")
                print("file: \(item.entry.path)")
                print("sender: <\(record.sender)>")
                for recipient in record.recipients { print("recipient: <\(recipient)>") }
                print("client: \(record.clientAddress) (\(record.clientHelo ?? "-")) \(record.receivedProtocol)")
                print("reason: \(record.reason)")
                print("size: \(item.size)")
            }
            if body {
                if !json { print("") }
                fflush(nil) // the envelope first, then the raw message
                let offset = try maildir.read(item.entry).messageOffset
                FileHandle.standardOutput.write(Data(try maildir.contents(of: item.entry, from: offset)))
            }
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put messages back into the queue for their original recipients, delivered at once.",
            discussion: "Through the running daemon: each becomes a fresh queued message (a new queue ID) without "
                + "the fields quarantining added; its Maildir file goes once the queue holds it durably.")

        @Argument(help: "Quarantine IDs, or - for standard input.") var ids: [String] = []
        @OptionGroup var location: Location

        func run() throws {
            try QuarantineCommand.send(.quarantineRelease, ids, location: location)
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove messages from the quarantine for good.",
            discussion: "Through the daemon when it runs, else directly in the Maildir.")

        @Argument(help: "Quarantine IDs, or - for standard input.") var ids: [String] = []
        @OptionGroup var location: Location

        func run() throws {
            try QuarantineCommand.send(.quarantineDelete, ids, location: location) { named in
                deleteDirectly(named, in: try location.maildir())
            }
        }

        /// No daemon: nothing else writes the Maildir, so the files go here.
        private func deleteDirectly(_ ids: [String], in maildir: QuarantineMaildir) -> ControlReply {
            var reply = ControlReply()
            for text in ids {
                do {
                    guard let id = QueueID(text) else {
                        reply.skipped.append(.init(id: text, reason: "not a quarantine ID"))
                        continue
                    }
                    guard let entry = try maildir.entry(id: id) else {
                        reply.skipped.append(.init(id: text, reason: "no such message in the quarantine"))
                        continue
                    }
                    try maildir.remove(entry)
                    reply.done.append(text)
                } catch {
                    reply.skipped.append(.init(id: text, reason: "\(error)"))
                }
            }
            return reply
        }
    }
}
