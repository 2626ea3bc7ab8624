/// Where the configuration comes from: a file (or none) and the overrides
/// given on the command line, applied again at every reload.
public struct ConfigSource: Sendable {
    public var file: String?
    /// `--listen HOST:PORT`: replaces the configured listeners.
    public var listen: (host: String, port: Int)?
    /// `--queue-dir`.
    public var queueDirectory: String?

    public init(file: String?, listen: (host: String, port: Int)? = nil, queueDirectory: String? = nil) {
        self.file = file
        self.listen = listen
        self.queueDirectory = queueDirectory
    }

    /// Reads and checks the file; throws `ConfigErrors` naming file, line and key.
    public func load() throws -> PosternConfig {
        var settings = try file.map { try ConfigLoader.load(file: $0) } ?? PosternConfig()
        if let listen {
            // The first listener's policy stays with the new address.
            let first = settings.listeners.first
            settings.listeners = [PosternConfig.Listener(host: listen.host, port: listen.port,
                                                         policyFile: first?.policyFile, policy: first?.policy)]
        }
        if let queueDirectory { settings.queueDirectory = queueDirectory }
        return settings
    }
}
