import ArgumentParser
import Foundation
import PosternDaemon

/// `postern reload`: what SIGHUP does, with the outcome printed. A mistake
/// in a file keeps the old configuration; it is printed with file and line
/// and the command exits 1.
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the running daemon read its configuration, policies and TLS certificate again.")

    @OptionGroup var location: QueueCommand.Location

    func run() throws {
        let reply: ControlReply
        let socket: String
        do {
            socket = try location.socketPath()
        } catch {
            // The file names the socket, and it does not read: the daemon was not told.
            FileHandle.standardError.write(Data("postern: reload refused, the old configuration stays in force:\n\(error)\n".utf8))
            throw ExitCode(1)
        }
        do {
            reply = try ControlClient(path: socket).send(ControlRequest(command: .reload))
        } catch {
            FileHandle.standardError.write(Data("postern: \(error)\n".utf8))
            throw ExitCode(1)
        }
        guard reply.ok else {
            FileHandle.standardError.write(Data("postern: reload refused, the old configuration stays in force:\n\(reply.error ?? "")\n".utf8))
            throw ExitCode(1)
        }
        print("reloaded")
        for note in reply.notes ?? [] { print("note: \(note)") }
    }
}
