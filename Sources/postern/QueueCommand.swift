import ArgumentParser
import Foundation
import MailQueue
import PosternDaemon

struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Inspect the queue (list, show, summary read the directory) and act on it through the daemon.",
        subcommands: [List.self, Show.self, Summary.self, Flush.self, Hold.self, Release.self, Delete.self,
                      Bounce.self, Requeue.self])

    /// Where the queue and the daemon's control socket are.
    struct Location: ParsableArguments {
        @Option(name: .long, help: "Take the queue directory and control socket from this configuration file.")
        var config: String?

        @Option(name: .customLong("queue-dir"), help: "Queue directory (default ./var/queue).")
        var queueDir: String?

        @Option(name: .long, help: "Control socket (default: control.sock in the queue directory).")
        var socket: String?

        /// The control socket; the configuration is read only when --socket is not given.
        func socketPath() throws -> String {
            if let socket { return socket }
            return try resolved().socket
        }

        func resolved() throws -> (queue: String, socket: String) {
            let settings = try self.settings()
            return (settings.queueDirectory, socket ?? settings.controlSocketPath)
        }

        /// The configuration with --queue-dir applied.
        func settings() throws -> PosternConfig {
            do {
                return try ConfigSource(file: config, queueDirectory: queueDir).load()
            } catch {
                throw ValidationError("configuration errors:\n\(error)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List queued messages, oldest first, like postqueue -p.",
            discussion: "Marks after the ID: ~ deferred, ! held, # quarantined. --json prints one object per line.")

        @Flag(help: "One JSON object per message and line (postqueue -j field names, and Postern's own).")
        var json = false

        @Option(help: "Only senders matching this regular expression.")
        var sender: String?

        @Option(help: "Only messages with a recipient matching this regular expression.")
        var recipient: String?

        @Option(help: "Only messages in this state: ready, deferred, hold, quarantine.")
        var state: String?

        @Option(name: .customLong("older-than"), help: "Only messages older than this (e.g. 90s, 30m, 2h, 1d).")
        var olderThan: String?

        @Option(help: "Only messages with a recipient in this domain.")
        var domain: String?

        @OptionGroup var location: Location

        func run() throws {
            let filter = try makeFilter()
            let entries = try QueueReader(directory: try location.resolved().queue).list()
            var envelopes: [Envelope] = []
            var unreadable: [(String, String)] = []
            for entry in entries {
                switch entry {
                case .envelope(let envelope) where filter.matches(envelope): envelopes.append(envelope)
                case .envelope: continue
                case .unreadable(let id, let reason): unreadable.append((id, reason))
                }
            }
            if json {
                for envelope in envelopes { print(try QueueListing.json(QueueListing.object(.envelope(envelope)), pretty: false)) }
                for (id, reason) in unreadable {
                    print(try QueueListing.json(QueueListing.object(.unreadable(id: id, reason: reason)), pretty: false))
                }
            } else {
                print(QueueListing.human(envelopes, unreadable: unreadable), terminator: "")
            }
        }

        func makeFilter() throws -> QueueFilter {
            var filter = QueueFilter()
            func regex(_ text: String?, _ name: String) throws -> NSRegularExpression? {
                guard let text else { return nil }
                do { return try NSRegularExpression(pattern: text, options: [.caseInsensitive]) }
                catch { throw ValidationError("--\(name): not a regular expression: \(text)") }
            }
            filter.sender = try regex(sender, "sender")
            filter.recipient = try regex(recipient, "recipient")
            filter.state = try state.map(QueueFilter.parseState)
            if let olderThan {
                guard let seconds = DurationText.seconds(olderThan) else { throw ValidationError("--older-than: e.g. 90s, 30m, 2h, 1d") }
                filter.arrivedBefore = Date().addingTimeInterval(-seconds)
            }
            filter.domain = domain
            return filter
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one message: envelope, each recipient's status, every delivery attempt; the message with --body.")

        @Argument(help: "Queue ID.")
        var id: String

        @Flag(help: "Print the message itself after the envelope, with the header fields added after spooling.")
        var body = false

        @Flag(help: "Print the envelope as JSON.")
        var json = false

        @OptionGroup var location: Location

        func run() throws {
            guard let queueID = QueueID(id) else { throw ValidationError("not a queue ID: \(id)") }
            let queueDir = try location.resolved().queue
            let reader = QueueReader(directory: queueDir)
            let envelope: Envelope
            do {
                envelope = try reader.envelope(id: queueID)
            } catch {
                FileHandle.standardError.write(Data("postern: no readable message \(id) in \(queueDir): \(error)\n".utf8))
                throw ExitCode(1)
            }
            if json {
                print(try QueueListing.json(QueueListing.object(.envelope(envelope)), pretty: true))
            } else {
                printEnvelope(envelope)
            }
            if body {
                if !json { print("") }
                fflush(nil) // the envelope first, then the raw message
                FileHandle.standardOutput.write(Data(try reader.message(envelope)))
            }
        }

        private func printEnvelope(_ envelope: Envelope) {
            print("id: \(envelope.id)")
            print("created: \(QueueListing.isoDate(envelope.created))")
            print("state: \(envelope.state.rawValue)")
            print("sender: <\(envelope.sender)>")
            print("size: \(envelope.size)")
            print("attempts: \(envelope.attempts)")
            if let next = envelope.nextAttempt { print("next-attempt: \(QueueListing.isoDate(next))") }
            if let reply = envelope.lastReply { print("last-reply: \(reply)") }
            print("client: \(envelope.clientAddress) (\(envelope.clientHelo ?? "-")) \(envelope.receivedProtocol)")
            let dsn = [envelope.dsnReturn.map { "RET=\($0.rawValue)" }, envelope.envelopeID.map { "ENVID=\($0)" }].compactMap { $0 }
            if !dsn.isEmpty { print("dsn: \(dsn.joined(separator: " "))") }
            for rcpt in envelope.recipients {
                var line = "recipient: <\(rcpt.address)> \(rcpt.status.rawValue)\(rcpt.lastReply.map { " (\($0))" } ?? "")"
                if let notify = rcpt.dsn.notify { line += " NOTIFY=\(notify.parameterValue)" }
                if let orcpt = rcpt.dsn.originalRecipient { line += " ORCPT=\(orcpt)" }
                print(line)
            }
            for attempt in envelope.history {
                let who = attempt.recipients.map { "<\(envelope.recipients[$0].address)>" }.joined(separator: " ")
                print("attempt: \(QueueListing.isoDate(attempt.time)) \(attempt.result.rawValue) via \(attempt.nextHop ?? "-") \(who): \(attempt.reply)")
            }
        }
    }

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undelivered recipients by destination domain and age in minutes, like Postfix's qshape.")

        @Option(help: "Only messages in this state: ready, deferred, hold, quarantine.")
        var state: String?

        @OptionGroup var location: Location

        func run() throws {
            var filter = QueueFilter()
            filter.state = try state.map(QueueFilter.parseState)
            let envelopes = try QueueReader(directory: try location.resolved().queue).list().compactMap { entry -> Envelope? in
                if case .envelope(let envelope) = entry, filter.matches(envelope) { return envelope }
                return nil
            }
            print(QueueListing.summary(envelopes, now: Date()), terminator: "")
        }
    }
}
