import ArgumentParser

@main
struct Postern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postern",
        abstract: "Postern, an SMTP smart host: receive, check, queue and relay mail.",
        subcommands: [Serve.self, ConfigCommand.self, QueueCommand.self, QuarantineCommand.self, ReloadCommand.self,
                      PolicyCommand.self, PasswdCommand.self, SPFCommand.self, DKIMCommand.self, MessageCommand.self,
                      ScanCommand.self, TLSCommand.self])

    /// Usage errors exit 2, as the CLI promises (ArgumentParser's own is 64).
    static func main() async {
        await mainWithUsageStatus2()
    }
}
