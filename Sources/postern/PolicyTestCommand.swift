import ArgumentParser
import DNS
import DNSModel
import Foundation
import MailMessage
import Policy
import PosternDaemon
import SMTPCore
import SMTPServer
import SPF
import Scanning
import NIOPosix

/// `postern policy …`: policy file tools.
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Policy file tools.",
        subcommands: [PolicyTest.self])

    /// A policy file, or exit 78 (EX_CONFIG) with its errors on stderr.
    static func load(_ path: String) throws -> PolicyConfig {
        do {
            return try PolicyLoader.load(file: path)
        } catch {
            FileHandle.standardError.write(Data("postern: policy errors:\n\(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}

/// `postern policy test`: walks one made-up session through a policy file
/// and prints what each filter says and the reply a client would get.
/// Nothing is sent and nothing is queued.
struct PolicyTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Show what a policy file does with one message, sending nothing.",
        discussion: """
            Runs the filters of --policy for a client at --client-ip, phase by phase (HELO, \
            AUTH, MAIL FROM, each RCPT TO, the message), prints every filter's verdict and the \
            SMTP reply of each command, and last the final reply. --auth USER acts as if USER \
            had authenticated (no password is asked), provided the policy offers AUTH to this \
            client. SPF needs DNS: it is checked only with --dns HOST:PORT, so that a test \
            makes no query you did not ask for. Exit status 0 when the message would be \
            accepted, 1 when refused, 2 for bad arguments.
            """)

    @Option(help: ArgumentHelp("The policy file (TOML).", valueName: "file"))
    var policy: String

    @Option(help: ArgumentHelp("The client's IP address.", valueName: "ip"))
    var clientIP: String

    @Option(help: ArgumentHelp("The EHLO name.", valueName: "name"))
    var helo: String = "client.example"

    @Flag(help: "The session uses STARTTLS.")
    var tls = false

    @Option(help: ArgumentHelp("Act as if this user had authenticated.", valueName: "user"))
    var auth: String?

    @Option(help: ArgumentHelp("The MAIL FROM address, without angle brackets; empty for the null sender.", valueName: "address"))
    var from: String

    @Option(help: ArgumentHelp("A RCPT TO address; repeat for more.", valueName: "address"))
    var to: [String]

    @Option(help: ArgumentHelp("The message (RFC 5322 file) for the header and content checks.", valueName: "file"))
    var message: String?

    @Option(help: ArgumentHelp("Our host name (Received, Received-SPF).", valueName: "name"))
    var hostname: String = "postern.test"

    @Option(name: .customLong("dns"), help: ArgumentHelp("Name server for SPF as HOST:PORT.", valueName: "host:port"))
    var servers: [String] = []

    @Flag(help: "Send the message to the policy's [[scan]] scanners (they must be running) and apply their verdicts.")
    var scan = false

    func validate() throws {
        guard IPAddress(clientIP) != nil else { throw ValidationError("--client-ip '\(clientIP)' is not an IP address") }
        guard !to.isEmpty else { throw ValidationError("give at least one --to") }
        for server in servers where DNSServerAddress(parsing: server) == nil {
            throw ValidationError("--dns '\(server)' is not HOST or HOST:PORT with a numeric address")
        }
    }

    func run() async throws {
        let config = try PolicyCommand.load(policy)
        var resolver: LDNSResolver?
        let needsDNS = config.spf.enabled || config.dmarc.enabled
        if needsDNS && !servers.isEmpty {
            let addresses = servers.compactMap { DNSServerAddress(parsing: $0) }
            resolver = try LDNSResolver(configuration: .init(servers: addresses, timeout: .seconds(3), threads: 2))
        } else if needsDNS {
            print("note     SPF and DMARC are not checked: give --dns HOST:PORT to look up their records")
        }
        let spf = resolver.map { SPFEvaluator(resolver: CachingResolver(upstream: $0), configuration: SPFConfiguration(receivingHost: hostname)) }
        var scanners: [any PolicyFilter] = []
        do {
            let cache = resolver.map { CachingResolver(upstream: $0) }
            if let dmarc = try DMARCFilter.make(policy: config, resolver: cache, hostname: hostname) { scanners.append(dmarc) }
        } catch {
            FileHandle.standardError.write(Data("postern: \(error)\n".utf8))
            throw ExitCode(78)
        }
        if scan {
            do {
                if let filter = try ScanFilter.make(rules: config.scans, hostname: hostname, group: MultiThreadedEventLoopGroup.singleton) {
                    try await filter.prepare()
                    scanners.append(filter)
                }
            } catch {
                FileHandle.standardError.write(Data("postern: \(error)\n".utf8))
                throw ExitCode(78)
            }
        } else if !config.scans.isEmpty && message != nil {
            print("note     scanners are not asked: give --scan to send the message to them")
        }
        let listener = ListenerPolicy.make(policy: config, hostname: hostname, spf: spf, contentFilters: scanners)
        var walk = PolicyWalk(policy: listener, hostname: hostname, clientIP: IPAddress(clientIP)!, helo: helo, tls: tls)
        let accepted = await walk.run(auth: auth, from: from, to: to, messageFile: message)
        resolver?.shutdown()
        if !accepted { throw ExitCode(1) }
    }
}
