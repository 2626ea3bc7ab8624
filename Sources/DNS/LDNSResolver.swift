import CLDNS
import DNSModel

/// A `DNSResolver` over libldns, for the configured servers only.
///
/// ldns blocks the calling thread for the whole exchange, so queries never run on the
/// caller's thread: each goes to a fixed pool of threads (each with its own ldns
/// resolvers) and the caller awaits the result. Servers are tried in order: a timeout,
/// a transport error or an RCODE other than NOERROR/NXDOMAIN moves on to the next one;
/// a truncated UDP answer is asked again over TCP.
public final class LDNSResolver: DNSResolver {
    public struct Configuration: Sendable, Hashable {
        /// Tried in this order. Never empty.
        public var servers: [DNSServerAddress]
        /// How long to wait for one answer over UDP, or for a TCP exchange.
        public var timeout: Duration
        /// Tries per server (ldns "retry").
        public var attempts: Int
        /// Threads in the pool: how many queries can be in flight at once.
        public var threads: Int
        /// EDNS0 UDP payload size to advertise, 0 for none (answers over 512 octets
        /// then come truncated and are fetched over TCP).
        public var ednsUDPSize: UInt16
        /// The servers validate DNSSEC and are reached over a trusted path (a
        /// resolver on loopback): only then is their AD bit believed, and answers
        /// can be secure (RFC 7672 §1.3). `[dns] validating` in postern.toml.
        public var validating: Bool

        public init(
            servers: [DNSServerAddress], timeout: Duration = .seconds(3), attempts: Int = 2,
            threads: Int = 4, ednsUDPSize: UInt16 = 1232, validating: Bool = false
        ) {
            self.servers = servers
            self.timeout = timeout
            self.attempts = attempts
            self.threads = threads
            self.ednsUDPSize = ednsUDPSize
            self.validating = validating
        }
    }

    public enum ConfigurationError: Error, Hashable {
        case noServers
    }

    /// Longest CNAME chain followed across queries.
    static let maximumRestarts = 8

    public let configuration: Configuration
    private let pool: LDNSWorkerPool<[LDNSServerSession]>

    public init(configuration: Configuration) throws(ConfigurationError) {
        guard !configuration.servers.isEmpty else { throw .noServers }
        self.configuration = configuration
        pool = LDNSWorkerPool(threads: configuration.threads, name: "postern-dns") {
            configuration.servers.map { LDNSServerSession(server: $0, configuration: configuration) }
        }
    }

    // Only close here: the last reference may go away on a pool thread,
    // which must not wait for itself.
    deinit { pool.close() }

    /// Ends the query threads after the queries in flight; call before the
    /// process exits. No query may be made afterwards.
    public func shutdown() { pool.shutdown() }

    public func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
        await securedLookup(name, type: type).result
    }

    public func securedLookup(_ name: DNSName, type: DNSRecordType) async -> DNSSecuredResult<DNSRecord> {
        let validating = configuration.validating
        return await withCheckedContinuation { continuation in
            pool.submit { sessions in
                continuation.resume(returning: Self.resolve(name, type: type, sessions: sessions, validating: validating))
            }
        }
    }

    /// Runs on a pool thread. Secure only when the servers are trusted to validate
    /// and every response along a CNAME chain carried the AD bit.
    private static func resolve(
        _ name: DNSName, type: DNSRecordType, sessions: [LDNSServerSession], validating: Bool
    ) -> DNSSecuredResult<DNSRecord> {
        var lastFailure = DNSError.transport("no server answered")
        var current = name
        var authenticated = validating
        func finish(_ result: DNSLookupResult<DNSRecord>) -> DNSSecuredResult<DNSRecord> {
            if case .failure = result { return DNSSecuredResult(result, security: .insecure) }
            return DNSSecuredResult(result, security: authenticated ? .secure : .insecure)
        }
        for _ in 0..<maximumRestarts {
            var reading: LDNSResponseReader.Reading?
            for session in sessions {
                switch session.query(current, type: type) {
                case .failure(let error):
                    lastFailure = error
                case .packet(let response):
                    let read = LDNSResponseReader.read(response, name: current, type: type)
                    if case .result(.failure(let error)) = read {
                        lastFailure = error
                    } else {
                        reading = read
                        authenticated = authenticated && response.authenticated
                    }
                }
                if reading != nil { break }
            }
            switch reading {
            case nil: return finish(.failure(lastFailure))
            case .result(let result)?: return finish(result)
            case .restart(let target)?: current = target
            }
        }
        return finish(.failure(.aliasLoop))
    }
}
