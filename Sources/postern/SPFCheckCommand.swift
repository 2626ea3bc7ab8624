import ArgumentParser
import DNS
import DNSModel
import Foundation
import SPF

/// `postern spf …`: Sender Policy Framework tools.
struct SPFCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spf",
        abstract: "Sender Policy Framework (RFC 7208) tools.",
        subcommands: [SPFCheck.self, SPFBench.self])
}

/// `postern spf check`: runs one SPF check against real DNS and prints the result.
struct SPFCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check whether an IP address may send mail for a sender (RFC 7208).",
        discussion: """
            Prints three lines: the result (pass, fail, softfail, neutral, none, permerror, \
            temperror); the explanation when the result is fail, else an empty line; and \
            the mechanism or error that decided. The exit status is 0 whatever the result.
            An empty --sender (the null sender of a bounce) checks postmaster@<helo>.
            Without --dns the name servers of /etc/resolv.conf are used.
            """)

    @Option(help: "The client's IP address (IPv4 or IPv6).")
    var ip: String

    @Option(help: ArgumentHelp("The MAIL FROM address, without angle brackets; empty for the null sender.", valueName: "address"))
    var sender: String

    @Option(help: ArgumentHelp("The HELO/EHLO name the client gave.", valueName: "name"))
    var helo: String

    @Option(
        name: .customLong("dns"),
        help: ArgumentHelp("A name server as HOST or HOST:PORT ([V6]:PORT); repeat for more, tried in order.", valueName: "host:port"))
    var servers: [String] = []

    @Option(help: ArgumentHelp("Seconds to wait for each DNS answer.", valueName: "seconds"))
    var timeout: Double = 3

    @Option(help: ArgumentHelp("Tries per name server.", valueName: "count"))
    var attempts: Int = 2

    @Option(help: ArgumentHelp("Explanation for a fail when the record gives none (macros allowed).", valueName: "text"))
    var defaultExplanation: String = SPFConfiguration.standardExplanation

    @Option(help: ArgumentHelp("This host's name, for the %{r} macro.", valueName: "name"))
    var receivingHost: String = "unknown"

    func validate() throws {
        guard IPAddress(ip) != nil else { throw ValidationError("--ip '\(ip)' is not an IPv4 or IPv6 address") }
        try CommandNameServers.validate(servers)
        guard timeout > 0, timeout <= 120 else { throw ValidationError("--timeout must be between 0 and 120 seconds") }
        guard (1...10).contains(attempts) else { throw ValidationError("--attempts must be between 1 and 10") }
    }

    func run() async throws {
        let addresses = try CommandNameServers.addresses(servers)
        let resolver = try LDNSResolver(configuration: LDNSResolver.Configuration(
            servers: addresses, timeout: .milliseconds(Int64(timeout * 1000)), attempts: attempts, threads: 2))
        let evaluator = SPFEvaluator(
            resolver: CachingResolver(upstream: resolver),
            configuration: SPFConfiguration(defaultExplanation: defaultExplanation, receivingHost: receivingHost))
        // `validate()` has checked the address.
        let result = await evaluator.check(ip: IPAddress(ip) ?? .v4(IPv4Address(0)), sender: sender, helo: helo)
        print(result.verdict.rawValue)
        print(result.explanation.map(Self.singleLine) ?? "")
        print(Self.singleLine(result.decidedBy))
        resolver.shutdown() // join the DNS threads before the process exits
    }

    /// Keeps the three-line output three lines whatever a record's text contains.
    private static func singleLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}

/// `postern spf bench` (hidden): SPF checks per second through the real ldns path,
/// driven by bench/spf.py. Round 1 starts with an empty cache (cold); later rounds
/// reuse it (warm). `--no-cache` runs every round straight against the resolver.
struct SPFBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure SPF checks per second (for bench/spf.py).",
        shouldDisplay: false)

    @Option(name: .customLong("dns"), help: "Name server as HOST:PORT; repeat for more.")
    var servers: [String]

    @Option(help: "File of checks, one per line: IP SENDER HELO (SENDER '-' for the null sender).")
    var workload: String

    @Option(help: "Checks in flight at once.")
    var concurrency: Int = 32

    @Option(help: "Rounds over the workload; the first starts with an empty cache.")
    var rounds: Int = 3

    @Option(help: "Threads in the ldns pool.")
    var threads: Int = 4

    @Option(help: "Seconds to wait for each DNS answer.")
    var timeout: Double = 2

    @Flag(help: "Query the server for every look-up (no cache).")
    var noCache = false

    private struct Job: Sendable {
        var ip: IPAddress
        var sender: String
        var helo: String
    }

    func run() async throws {
        let jobs = try loadWorkload()
        let addresses = servers.compactMap { DNSServerAddress(parsing: $0) }
        guard !addresses.isEmpty else { throw ValidationError("give --dns HOST:PORT") }
        let resolver = try LDNSResolver(configuration: LDNSResolver.Configuration(
            servers: addresses, timeout: .milliseconds(Int64(timeout * 1000)), attempts: 2, threads: threads))
        let cache = CachingResolver(upstream: resolver, capacity: 1_000_000)
        for round in 1...max(1, rounds) {
            let evaluator = SPFEvaluator(resolver: noCache ? resolver as any DNSResolver : cache)
            let before = cache.statistics
            let started = ContinuousClock.now
            let verdicts = await Self.runAll(jobs, evaluator: evaluator, concurrency: max(1, concurrency))
            let seconds = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
            let after = cache.statistics
            let label = noCache ? "no-cache" : (round == 1 ? "cold" : "warm")
            let tally = SPFVerdict.allCases.compactMap { verdict in
                verdicts[verdict].map { "\(verdict.rawValue)=\($0)" }
            }.joined(separator: " ")
            let rate = Double(jobs.count) / max(seconds, 0.000_001)
            let queries = noCache ? -1 : after.upstreamQueries - before.upstreamQueries
            print("round=\(round) cache=\(label) checks=\(jobs.count) seconds=\(String(format: "%.3f", seconds)) "
                + "checks_per_second=\(Int(rate)) dns_queries=\(queries) \(tally)")
        }
        resolver.shutdown()
    }

    private func loadWorkload() throws -> [Job] {
        let text = try String(contentsOfFile: workload, encoding: .utf8)
        return try text.split(whereSeparator: \.isNewline).map { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, let ip = IPAddress(fields[0]) else {
                throw ValidationError("bad workload line: \(line)")
            }
            return Job(ip: ip, sender: fields[1] == "-" ? "" : String(fields[1]), helo: String(fields[2]))
        }
    }

    /// Runs every job, at most `concurrency` at a time; counts the verdicts.
    private static func runAll(_ jobs: [Job], evaluator: SPFEvaluator, concurrency: Int) async -> [SPFVerdict: Int] {
        await withTaskGroup(of: SPFVerdict.self) { group in
            var counts: [SPFVerdict: Int] = [:]
            var next = 0
            func startNext() {
                guard next < jobs.count else { return }
                let job = jobs[next]
                next += 1
                group.addTask { await evaluator.check(ip: job.ip, sender: job.sender, helo: job.helo).verdict }
            }
            for _ in 0..<concurrency { startNext() }
            while let verdict = await group.next() {
                counts[verdict, default: 0] += 1
                startNext()
            }
            return counts
        }
    }
}

extension AsyncParsableCommand {
    /// Like `main()`, except that a usage error (bad or missing arguments) exits with
    /// status 2, as `postern spf check` documents, instead of ArgumentParser's 64.
    static func mainWithUsageStatus2(_ arguments: [String]? = nil) async {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
