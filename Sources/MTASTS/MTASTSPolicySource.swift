import DNSModel
import Foundation
import Logging

/// What applies to one domain now, and how that was found (for delivery
/// and for `postern tls check`).
public struct MTASTSLookup: Sendable {
    public enum Source: Sendable, Hashable {
        case fetched
        case cached
    }

    public var discovery: MTASTSDiscovery
    /// The policy that applies; nil: none (`note` says why).
    public var policy: CachedPolicy?
    public var source: Source?
    /// Why there is no policy, or a fetch that failed while a cached one applies.
    public var note: String?

    /// The policy when its mode asks for anything (enforce or testing).
    public var active: MTASTSPolicy? {
        guard let policy = policy?.policy, policy.mode != .none else { return nil }
        return policy
    }
}

/// Discovers, fetches and caches MTA-STS policies (RFC 8461 §3, §5.1). The
/// cache is in memory and, with a `cacheFile`, on disk too, so a restart
/// keeps the policies fetched before it.
public actor MTASTSPolicySource {
    let resolver: any DNSResolver
    let fetcher: MTASTSFetcher
    let now: @Sendable () -> Date
    let logger: Logger
    let cacheFile: MTASTSCacheFile?
    private var cache = MTASTSCache()
    /// One fetch per domain at a time; later askers wait for it.
    private var inFlight: [String: Task<MTASTSLookup, Never>] = [:]

    public init(resolver: any DNSResolver, fetcher: MTASTSFetcher, cacheFile: MTASTSCacheFile? = nil,
                logger: Logger = Logger(label: "postern.mta-sts"), now: @escaping @Sendable () -> Date = { Date() }) {
        self.resolver = resolver
        self.fetcher = fetcher
        self.cacheFile = cacheFile
        self.logger = logger
        self.now = now
        for (domain, entry) in cacheFile?.load(now: now()) ?? [] { cache.store(entry, domain: domain) }
    }

    public func lookup(domain: String) async -> MTASTSLookup {
        let key = domain.lowercased()
        if let running = inFlight[key] { return await running.value }
        let discovery = await discover(domain: key)
        switch cache.plan(domain: key, discovery: discovery, now: now()) {
        case .use(let cached):
            return MTASTSLookup(discovery: discovery, policy: cached, source: .cached)
        case .noPolicy(let why):
            return MTASTSLookup(discovery: discovery, policy: nil, source: nil, note: why)
        case .fetch(let id, let fallback):
            if let running = inFlight[key] { return await running.value }
            let task = Task { await self.fetch(domain: key, id: id, fallback: fallback, discovery: discovery) }
            inFlight[key] = task
            let lookup = await task.value
            inFlight[key] = nil
            return lookup
        }
    }

    private func fetch(domain: String, id: String, fallback: CachedPolicy?, discovery: MTASTSDiscovery) async -> MTASTSLookup {
        do {
            let policy = try await fetcher.fetch(domain: domain)
            let entry = CachedPolicy(policy: policy, id: id, fetched: now())
            cache.prune(now: entry.fetched)
            cache.store(entry, domain: domain)
            do {
                try cacheFile?.save(entry, domain: domain)
            } catch {
                logger.warning("cannot write MTA-STS policy cache", metadata: ["domain": "\(domain)", "error": "\(error)"])
            }
            logger.info("MTA-STS policy fetched", metadata: [
                "domain": "\(domain)", "id": "\(id)", "mode": "\(policy.mode.rawValue)",
                "mx": "\(policy.mx.map(\.description).joined(separator: ","))", "max_age": "\(policy.maxAge)",
            ])
            return MTASTSLookup(discovery: discovery, policy: entry, source: .fetched)
        } catch {
            logger.notice("MTA-STS policy fetch failed", metadata: [
                "domain": "\(domain)", "error": "\(error)", "cached": "\(fallback != nil)",
            ])
            return MTASTSLookup(discovery: discovery, policy: fallback, source: fallback == nil ? nil : .cached,
                                note: "policy fetch failed: \(error)")
        }
    }

    /// §3.1: the TXT records at `_mta-sts.<domain>`.
    func discover(domain: String) async -> MTASTSDiscovery {
        guard let name = DNSName("_mta-sts." + domain) else { return .absent(.syntax("bad domain name")) }
        switch await resolver.lookupTXT(name) {
        case .answer(let records, _):
            do {
                return .record(try MTASTSRecord.select(records.map { String(decoding: $0.joined, as: UTF8.self) }))
            } catch {
                return .absent(error)
            }
        case .void:
            return .absent(.noRecord)
        case .failure(let error):
            return .lookupFailed("\(error)")
        }
    }
}
