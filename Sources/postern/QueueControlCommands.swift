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
        var named = ids
        if named == ["-"] {
            // As postsuper: IDs one per line (or several per line) on standard input.
            named = (readAllStandardInput()).split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }).map(String.init)
        }
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
        guard reply.ok else {
            FileHandle.standardError.write(Data("postern: \(reply.error ?? "refused")\n".utf8))
            throw ExitCode(1)
        }
        for id in reply.done { print("\(id): \(Self.command.pastTense)") }
        for skip in reply.skipped { FileHandle.standardError.write(Data("postern: \(skip.id): \(skip.reason)\n".utf8)) }
        print("\(reply.done.count) message\(reply.done.count == 1 ? "" : "s") \(Self.command.pastTense)")
        if !reply.skipped.isEmpty { throw ExitCode(1) }
    }

    private func readAllStandardInput() -> String {
        String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
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
