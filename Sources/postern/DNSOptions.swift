import ArgumentParser
import DNS

/// The name servers a CLI command asks: those given with --dns, else the
/// ones in /etc/resolv.conf.
enum CommandNameServers {
    static func validate(_ servers: [String]) throws {
        for server in servers where DNSServerAddress(parsing: server) == nil {
            throw ValidationError("--dns '\(server)' is not HOST or HOST:PORT with a numeric address")
        }
    }

    static func addresses(_ servers: [String]) throws -> [DNSServerAddress] {
        if !servers.isEmpty { return servers.compactMap { DNSServerAddress(parsing: $0) } }
        let fromSystem = try DNSServerAddress.fromResolvConf()
        guard !fromSystem.isEmpty else { throw ValidationError("no nameserver in /etc/resolv.conf; give --dns") }
        return fromSystem
    }
}
