import ArgumentParser

@main
struct Postern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postern",
        abstract: "Postern, an SMTP smart host: receive, check, queue and relay mail.",
        subcommands: [Serve.self, ConfigCommand.self, QueueCommand.self, SPFCommand.self])
}
