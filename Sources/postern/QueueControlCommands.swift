import ArgumentParser
import Foundation
import PosternDaemon

/// The queue commands that change something: carried out by the running
/// daemon over its control socket, which owns the queue (a second writer
/// beside it could undo a delivery's update). Without a daemon they say so.
protocol QueueControlCommand: ParsableCommand {
    static var command: ControlRequest.Command { get }
    var ids: [String] { get }
    var all: Bool { get }
    var domain: String? { get }
    var location: QueueCommand.Location { get }
}

extension QueueControlCommand {
    var domain: String? { nil }

    func run() throws {
        let named = ControlCommandOutput.expand(ids)
        guard all || domain != nil || !named.isEmpty else {
            throw ValidationError("name queue IDs (or - to read them from standard input), or use --all")
        }
        let request = ControlRequest(command: Self.command, ids: named, all: all, domain: domain)
        let reply: ControlReply
        do {
            reply = try ControlClient(path: try location.socketPath()).send(request)
        } catch {
            FileHandle.standardError.write(Data("postern: \(error)\n".utf8))
            throw ExitCode(1)
        }
        try ControlCommandOutput.print(reply, for: Self.command)
    }
}

/// What the commands that go through the control socket share.
enum ControlCommandOutput {
    /// The IDs as given, or for "-" read from standard input as postsuper
    /// does (one or several per line).
    static func expand(_ ids: [String]) -> [String] {
        guard ids == ["-"] else { return ids }
        let text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        return text.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }).map(String.init)
    }

    /// One line per message acted on (the reply's notes where it has them),
    /// a count, and each skipped message on standard error; exit 1 if the
    /// request was refused or any message skipped.
    static func print(_ reply: ControlReply, for command: ControlRequest.Command) throws {
        guard reply.ok else {
            FileHandle.standardError.write(Data("postern: \(reply.error ?? "refused")\n".utf8))
            throw ExitCode(1)
        }
        if let notes = reply.notes, command == .quarantineRelease {
            for note in notes { Swift.print(note) }
        } else {
            for id in reply.done { Swift.print("\(id): \(command.pastTense)") }
        }
        for skip in reply.skipped { FileHandle.standardError.write(Data("postern: \(skip.id): \(skip.reason)\n".utf8)) }
        Swift.print("\(reply.done.count) message\(reply.done.count == 1 ? "" : "s") \(command.pastTense)")
        if !reply.skipped.isEmpty { throw ExitCode(1) }
    }
}

extension ControlRequest.Command {
    var pastTense: String {
        switch self {
        case .flush: return "flushed"
        case .hold: return "held"
        case .release: return "released"
        case .delete: return "deleted"
        case .bounce: return "bounced"
        case .requeue: return "requeued"
        case .ping: return "answered"
        case .reload: return "reloaded"
        case .quarantineRelease: return "released"
        case .quarantineDelete: return "deleted"
        }
    }
}

extension QueueCommand {
    struct Flush: QueueControlCommand {
        static let configuration = CommandConfiguration(abstract: "Try messages now (all waiting ones without IDs).")
        static let command = ControlRequest.Command.flush
        @Argument(help: "Queue IDs, or - for standard input.") var ids: [String] = []
        @Flag(help: "Every waiting message (the default when no ID or domain is given).") var all = false
        @Option(help: "Messages with an undelivered recipient in this domain.") var domain: String?
        @OptionGroup var location: QueueCommand.Location

        mutating func validate() throws {
            if ids.isEmpty && domain == nil { all = true }
        }
    }

    struct Hold: QueueControlCommand {
        static let configuration = CommandConfiguration(abstract: "Keep messages from delivery until released.")
        static let command = ControlRequest.Command.hold
        @Argument(help: "Queue IDs, or - for standard input.") var ids: [String] = []
        @Flag(help: "Every waiting message.") var all = false
        @OptionGroup var location: QueueCommand.Location
    }

    struct Release: QueueControlCommand {
        static let configuration = CommandConfiguration(abstract: "Let held or quarantined messages go, now.")
        static let command = ControlRequest.Command.release
        @Argument(help: "Queue IDs, or - for standard input.") var ids: [String] = []
        @Flag(help: "Every held or quarantined message.") var all = false
        @OptionGroup var location: QueueCommand.Location
    }

    struct Delete: QueueControlCommand {
        static let configuration = CommandConfiguration(abstract: "Remove messages from the queue, without a DSN.")
        static let command = ControlRequest.Command.delete
        @Argument(help: "Queue IDs, or - for standard input.") var ids: [String] = []
        @Flag(help: "Every message in the queue.") var all = false
        @OptionGroup var location: QueueCommand.Location
    }

    struct Bounce: QueueControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fail the undelivered recipients now and return the message to its sender with a DSN.")
        static let command = ControlRequest.Command.bounce
        @Argument(help: "Queue IDs, or - for standard input.") var ids: [String] = []
        var all: Bool { false }
        @OptionGroup var location: QueueCommand.Location
    }

    struct Requeue: QueueControlCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget the retry state and route again now (e.g. after a route change and reload).")
        static let command = ControlRequest.Command.requeue
        @Argument(help: "Queue IDs, or - for standard input.") var ids: [String] = []
        @Flag(help: "Every waiting message.") var all = false
        @OptionGroup var location: QueueCommand.Location
    }
}
