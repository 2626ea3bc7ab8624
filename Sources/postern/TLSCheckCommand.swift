import ArgumentParser
import DNS
import DNSModel
import Delivery
import Foundation
import Logging
import MTASTS
import NIOPosix
import PosternDaemon

/// `postern tls …`: outbound TLS policy tools.
struct TLSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "Outbound TLS policy tools (MTA-STS, RFC 8461).",
        subcommands: [TLSCheck.self])
}

/// `postern tls check DOMAIN`: what delivery to DOMAIN would require, and why.
struct TLSCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Print the TLS Postern would require for mail to a domain, and why.",
        discussion: """
            Looks up the domain's MX hosts and its MTA-STS TXT record, fetches the policy \
            over HTTPS (nothing is cached), and prints which MX hosts would be used. \
            --config supplies [dns] servers, [delivery] tls, mta_sts, mta_sts_port and \
            tls_ca_file; --dns overrides the servers. Exit status 0 whatever the policy.
            """)

    @Argument(help: "The recipient domain.")
    var domain: String

    @Option(name: .customLong("dns"), help: ArgumentHelp("A name server as HOST:PORT; repeat for more.", valueName: "host:port"))
    var servers: [String] = []

    @Option(help: "Take DNS servers and delivery settings from this configuration file.")
    var config: String?

    func validate() throws {
        for server in servers where DNSServerAddress(parsing: server) == nil {
            throw ValidationError("--dns '\(server)' is not HOST or HOST:PORT with a numeric address")
        }
        guard DNSName(domain) != nil else { throw ValidationError("'\(domain)' is not a domain name") }
    }

    func run() async throws {
        let settings: PosternConfig
        do {
            settings = try ConfigSource(file: config).load()
        } catch {
            throw ValidationError("configuration errors:\n\(error)")
        }
        let names = servers.isEmpty ? settings.dnsServers : servers
        let addresses = names.isEmpty ? try DNSServerAddress.fromResolvConf() : names.compactMap { DNSServerAddress(parsing: $0) }
        let upstream = try LDNSResolver(configuration: .init(servers: addresses, timeout: .seconds(3), attempts: 2, threads: 2,
                                                             validating: settings.dnsValidating))
        let resolver = CachingResolver(upstream: upstream)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let delivery = settings.delivery
        let domain = self.domain.lowercased()
        print("domain: \(domain)")
        let mx = await Self.mxLines(domain: domain, resolver: resolver)
        var policy: MTASTSPolicy?
        if let routed = Self.routing(domain: domain, delivery) {
            print("route: \(routed); MTA-STS applies to MX delivery only")
        } else if !delivery.mtaSTS {
            print("mta-sts: off ([delivery] mta_sts = false)")
        } else {
            let fetcher = MTASTSFetcher(resolver: resolver, group: group, settings: delivery.mtaSTSFetchSettings)
            // The fetch's outcome is printed here: no log lines on top of it.
            var quiet = Logger(label: "postern.mta-sts")
            quiet.logLevel = .critical
            let source = MTASTSPolicySource(resolver: resolver, fetcher: fetcher, logger: quiet)
            policy = await Self.mtaSTSLines(domain: domain, source: source,
                                            url: fetcher.url(domain: domain))
        }
        if Self.routing(domain: domain, delivery) == nil {
            await Self.daneLines(domain: domain, hosts: mx, port: delivery.port, validating: settings.dnsValidating,
                                 resolver: resolver)
        }
        Self.verdictLines(mx: mx, configured: delivery.tls, policy: policy, caFile: delivery.tlsCAFile)
        try await group.shutdownGracefully()
        upstream.shutdown()
    }

    /// The route or relayhost that takes the domain's mail instead of its MX, if any.
    static func routing(domain: String, _ delivery: PosternConfig.DeliverySettings) -> String? {
        if let route = delivery.routes[domain] { return "[delivery.routes] \(route)" }
        return delivery.relayhost.map { "relayhost \($0)" }
    }

    /// "mx: PREF HOST" lines, by preference; the host names.
    static func mxLines(domain: String, resolver: any DNSResolver) async -> [String] {
        guard let name = DNSName(domain) else { return [] }
        switch await resolver.lookupMX(name) {
        case .answer(let records, _):
            let sorted = records.sorted { ($0.preference, $0.exchange.description) < ($1.preference, $1.exchange.description) }
            for record in sorted { print("mx: \(record.preference) \(record.exchange)") }
            return sorted.filter { !$0.exchange.isRoot }.map(\.exchange.description)
        case .void(let void) where void.kind == .nxdomain:
            print("mx: none (the domain does not exist)")
            return []
        case .void:
            print("mx: none (the domain's own address is used, RFC 5321 §5.1)")
            return [domain]
        case .failure(let error):
            print("mx: look-up failed: \(error)")
            return []
        }
    }

    /// The TXT record, the fetched policy or why there is none; the policy in force.
    static func mtaSTSLines(domain: String, source: MTASTSPolicySource, url: String) async -> MTASTSPolicy? {
        let lookup = await source.lookup(domain: domain)
        switch lookup.discovery {
        case .record(let record): print("mta-sts txt: \(record)")
        case .absent(let problem): print("mta-sts txt: \(problem)")
        case .lookupFailed(let problem): print("mta-sts txt: look-up failed: \(problem)")
        }
        guard let cached = lookup.policy?.policy else {
            print("mta-sts policy: none (\(lookup.note ?? "no policy"))")
            return nil
        }
        print("mta-sts policy: mode=\(cached.mode.rawValue) max_age=\(cached.maxAge) "
            + "mx=\(cached.mx.map(\.description).joined(separator: ",")) from \(url)")
        return cached
    }

    /// "dane HOST: …" per MX host (RFC 7672): DANE outranks MTA-STS for the hosts it covers.
    static func daneLines(domain: String, hosts: [String], port: Int, validating: Bool, resolver: any DNSResolver) async {
        guard validating else {
            print("dane: off ([dns] validating = false: answers are not trusted as DNSSEC-validated)")
            return
        }
        let lookup = DANELookup(resolver: resolver)
        for host in hosts {
            switch await lookup.policy(domain: domain, host: host, port: port) {
            case .notApplicable(let why): print("dane \(host): not applied (\(why))")
            case .mandatoryTLS: print("dane \(host): TLSA records all unusable: STARTTLS required, certificate not checked")
            case .required(let expectation):
                print("dane \(host): STARTTLS required, certificate must match TLSA \(expectation); otherwise deferred")
            case .lookupFailed(let why): print("dane \(host): \(why): this MX is not used now (deferred)")
            }
        }
    }

    /// Which MX hosts would be used, and what TLS they must show.
    static func verdictLines(mx: [String], configured: String, policy: MTASTSPolicy?, caFile: String?) {
        let requirement = policy.map { $0.mode == .none ? "none" : "mta-sts-\($0.mode.rawValue)" } ?? "none"
        guard let policy, policy.mode != .none else {
            print("requirement: \(configured) (the configured [delivery] tls; certificates not checked)")
            return
        }
        for host in mx {
            let allowed = policy.allows(mxHost: host)
            let verb = allowed ? "allowed" : (policy.mode == .enforce ? "refused (not in policy)" : "would be refused (testing: used)")
            print("mx \(host): \(verb)")
        }
        let roots = caFile.map { "trust roots \($0)" } ?? "system trust roots"
        switch policy.mode {
        case .enforce:
            print("requirement: \(requirement): STARTTLS with a certificate valid for the MX host name (\(roots)); "
                + "otherwise the message is deferred")
        default:
            print("requirement: \(requirement): delivered as [delivery] tls = \(configured); failures of enforce are logged")
        }
    }
}
