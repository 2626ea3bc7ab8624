import DNSModel
import MailQueue

/// Where mail for a domain goes: a per-domain route (a next hop or local
/// Maildirs), the relayhost, or the domain's MX hosts (RFC 5321 §5.1), in
/// the order to try them.
public struct Router: Sendable {
    /// A host to connect to, with the addresses already looked up.
    public struct NextHop: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var addresses: [String]
        public var port: Int
        /// MX preference, for logs; routes and relayhosts have none.
        public var preference: UInt16?

        public init(host: String, addresses: [String], port: Int, preference: UInt16? = nil) {
            self.host = host
            self.addresses = addresses
            self.port = port
            self.preference = preference
        }

        public var description: String { "\(host):\(port)" }
    }

    public enum Resolution: Sendable, Equatable {
        case hops([NextHop])
        /// Final delivery here, into each recipient's Maildir.
        case maildir(MaildirRoute)
        /// The domain says it accepts no mail (a null MX, RFC 7505): fail
        /// recipients with 5.1.10.
        case nullMX(domain: String)
        /// Nothing will ever work (no such domain, no address): fail recipients.
        case permanentFailure(String)
        /// Try again later (DNS timeout, SERVFAIL).
        case temporaryFailure(String)
    }

    /// A fixed destination: "[host]:port" in the configuration. Brackets mean
    /// "no MX lookup", as in Postfix; without them the host's MX is used.
    public struct Destination: Sendable, Hashable {
        public var host: String
        public var port: Int
        public var lookUpMX: Bool

        public init(host: String, port: Int, lookUpMX: Bool = false) {
            self.host = host
            self.port = port
            self.lookUpMX = lookUpMX
        }
    }

    /// What `[delivery.routes]` may name for a domain.
    public enum Route: Sendable, Hashable {
        case smtp(Destination)
        case maildir(MaildirRoute)
    }

    public var routes: [String: Route]
    public var relayhost: Destination?
    /// Port for MX delivery (25; tests deliver to high ports).
    public var smtpPort: Int
    let resolver: any DNSResolver

    public init(routes: [String: Route] = [:], relayhost: Destination? = nil, smtpPort: Int = 25,
                resolver: any DNSResolver) {
        self.routes = Dictionary(uniqueKeysWithValues: routes.map { ($0.key.lowercased(), $0.value) })
        self.relayhost = relayhost
        self.smtpPort = smtpPort
        self.resolver = resolver
    }

    /// The destination for `domain` (an address literal goes straight to its address).
    public func resolve(domain: String) async -> Resolution {
        let key = domain.lowercased()
        if key.hasPrefix("[") && key.hasSuffix("]") {
            var literal = String(key.dropFirst().dropLast())
            if literal.hasPrefix("ipv6:") { literal = String(literal.dropFirst(5)) }
            guard IPAddress(literal) != nil else { return .permanentFailure("bad address literal \(domain)") }
            return .hops([NextHop(host: literal, addresses: [literal], port: smtpPort)])
        }
        let route = routes[key] ?? relayhost.map(Route.smtp)
        switch route {
        case .smtp(let next)?:
            return next.lookUpMX ? await mxHops(next.host, port: next.port) : await addressHops(next.host, port: next.port)
        case .maildir(let maildir)?:
            return .maildir(maildir)
        case nil:
            break
        }
        return await mxHops(key, port: smtpPort)
    }

    /// Mail for `domain` goes to its MX hosts (no route, no relayhost, not
    /// an address literal): only then do MTA-STS and DANE apply.
    public func isMXDelivery(domain: String) -> Bool {
        let key = domain.lowercased()
        return !key.hasPrefix("[") && routes[key] == nil && relayhost == nil
    }

    /// RFC 5321 §5.1: MX records by preference; none at all → the domain's
    /// own address (implicit MX); a single "." MX → null MX (RFC 7505).
    func mxHops(_ domain: String, port: Int) async -> Resolution {
        guard let name = DNSName(domain) else { return .permanentFailure("bad domain name \(domain)") }
        switch await resolver.lookupMX(name) {
        case .failure(let error):
            return .temporaryFailure("MX lookup for \(domain): \(error)")
        case .void(let void):
            if void.kind == .nxdomain { return .permanentFailure("domain \(domain) does not exist") }
            return await addressHops(domain, port: port) // implicit MX
        case .answer(let records, _):
            if records.count == 1, records[0].exchange.isRoot {
                return .nullMX(domain: domain)
            }
            let sorted = records.filter { !$0.exchange.isRoot }.sorted {
                $0.preference == $1.preference ? $0.exchange.description < $1.exchange.description : $0.preference < $1.preference
            }
            var hops: [NextHop] = []
            var temporary: String?
            for record in sorted {
                let host = record.exchange.description
                switch await addresses(of: record.exchange) {
                case .success(let addresses) where !addresses.isEmpty:
                    hops.append(NextHop(host: host, addresses: addresses, port: port, preference: record.preference))
                case .failure(let reason): temporary = reason
                default: continue
                }
            }
            if !hops.isEmpty { return .hops(hops) }
            if let temporary { return .temporaryFailure(temporary) }
            return .permanentFailure("no MX host of \(domain) has an address")
        }
    }

    func addressHops(_ host: String, port: Int) async -> Resolution {
        if IPAddress(host) != nil { return .hops([NextHop(host: host, addresses: [host], port: port)]) }
        guard let name = DNSName(host) else { return .permanentFailure("bad host name \(host)") }
        switch await addresses(of: name) {
        case .success(let addresses) where !addresses.isEmpty:
            return .hops([NextHop(host: host, addresses: addresses, port: port)])
        case .failure(let reason):
            return .temporaryFailure(reason)
        default:
            return .permanentFailure("host \(host) has no address")
        }
    }

    private enum AddressResult { case success([String]), failure(String) }

    /// A and AAAA; a temporary error on both is temporary, NXDOMAIN/no data is empty.
    private func addresses(of name: DNSName) async -> AddressResult {
        async let v4 = resolver.lookupA(name)
        async let v6 = resolver.lookupAAAA(name)
        let (a, aaaa) = await (v4, v6)
        let found = a.records.map(\.description) + aaaa.records.map(\.description)
        if !found.isEmpty { return .success(found) }
        if case .failure(let error) = a { return .failure("address lookup for \(name): \(error)") }
        if case .failure(let error) = aaaa { return .failure("address lookup for \(name): \(error)") }
        return .success([])
    }
}
