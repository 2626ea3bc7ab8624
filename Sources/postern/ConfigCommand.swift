import ArgumentParser
import Foundation
import PosternDaemon

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Work with configuration files.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file and the policy files it names; print FILE:LINE: KEY: problem for each mistake.")

        @Argument(help: "The configuration file.")
        var file: String

        func run() throws {
            do {
                let config = try ConfigLoader.load(file: file)
                let listeners = config.listeners.map { listener in
                    "\(listener.host):\(listener.port)" + (listener.policyFile.map { " policy \($0)" } ?? "")
                }.joined(separator: ", ")
                let user = config.daemon.user.map { ", user \($0)" + (config.daemon.group.map { ":\($0)" } ?? "") } ?? ""
                print("\(file): OK (hostname \(config.hostname), listeners \(listeners), queue \(config.queueDirectory)\(user))")
            } catch {
                for issue in error.issues { print(issue) }
                throw ExitCode(1)
            }
        }
    }
}
