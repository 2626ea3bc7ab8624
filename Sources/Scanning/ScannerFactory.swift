import NIOCore
import Policy

extension ScanFilter {
    public struct BuildError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The scanners a policy's `[[scan]]` tables name, each with its shared
    /// gate; nil when the policy scans nothing.
    public static func make(rules: [ScanRule], hostname: String, group: EventLoopGroup) throws(BuildError) -> ScanFilter? {
        guard !rules.isEmpty else { return nil }
        var scanners: [ConfiguredScanner] = []
        for rule in rules {
            let scanner = try makeScanner(rule, group: group)
            let key = "\(rule.backend.rawValue) \(rule.address ?? rule.database ?? "")"
            let gate = ScannerGate.shared(key: key, maxInFlight: rule.maxInFlight, failureLimit: rule.failureLimit,
                                          coolDown: .milliseconds(Int64(rule.coolDownSeconds * 1000)))
            // A reload may bring a fresh (closed) gate: the gauge follows the one in use.
            ScanMetrics.breaker(scanner: rule.name, open: gate.isOpen)
            scanners.append(ConfiguredScanner(rule: rule, scanner: scanner, gate: gate))
        }
        return ScanFilter(scanners: scanners, hostname: hostname)
    }

    static func makeScanner(_ rule: ScanRule, group: EventLoopGroup) throws(BuildError) -> any ContentScanner {
        func address() throws(BuildError) -> ScannerAddress {
            guard let text = rule.address, let address = ScannerAddress(text) else {
                throw BuildError(description: "scan \(rule.name): address must be a socket path or HOST:PORT")
            }
            return address
        }
        switch rule.backend {
        case .clamd: return ClamdScanner(address: try address(), timeout: rule.timeoutSeconds, group: group)
        case .spamd: return SpamdScanner(address: try address(), timeout: rule.timeoutSeconds, user: rule.user, group: group)
        case .rspamd: return RspamdScanner(address: try address(), timeout: rule.timeoutSeconds, group: group)
        case .clamav:
            guard let database = rule.database else { throw BuildError(description: "scan \(rule.name): database is required") }
            return ClamAVScanner(engine: .shared(database: database, maxSize: rule.maxSize), threads: rule.threads,
                                 timeout: rule.timeoutSeconds)
        }
    }
}

extension ScanFilter {
    /// Loads what the scanners need before mail is accepted: the in-process
    /// ClamAV engines (compiled off the event loop; a broken database is an
    /// error here, at start or reload, not a tempfail per message later).
    public func prepare() async throws(BuildError) {
        for configured in scanners {
            guard let clamav = configured.scanner as? ClamAVScanner else { continue }
            if case .failure(let error) = await clamav.engine.loadIfNeeded() {
                throw BuildError(description: "scan \(configured.rule.name): \(error)")
            }
        }
    }
}
