import ArgumentParser
import Foundation
import PosternDaemon

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the relay. With no file: 127.0.0.1:2525, queue under ./var/queue.")

    @Option(name: .long, help: "Configuration file (TOML).")
    var config: String?

    @Option(name: .long, help: "Listen on HOST:PORT instead of the configured listeners.")
    var listen: String?

    @Option(name: .customLong("queue-dir"), help: "Queue directory, overriding the configuration.")
    var queueDir: String?

    func run() async throws {
        var source = ConfigSource(file: config, queueDirectory: queueDir)
        if let listen {
            guard let listener = PosternConfig.parseListenAddress(listen) else {
                throw ValidationError("--listen expects HOST:PORT, e.g. 127.0.0.1:2525")
            }
            source.listen = (listener.host, listener.port)
        }
        let settings: PosternConfig
        do {
            settings = try source.load()
        } catch {
            FileHandle.standardError.write(Data("postern: configuration errors:\n\(error)\n".utf8))
            throw ExitCode(78) // EX_CONFIG
        }
        let logger = Daemon.makeLogger(config: settings)
        do {
            try await Daemon(config: settings, source: source, logger: logger).run()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}
