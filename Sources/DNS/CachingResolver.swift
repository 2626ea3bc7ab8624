import DNSModel
import Foundation
import Synchronization

/// A TTL cache in front of another resolver.
///
/// - Answers are kept for their smallest TTL (capped by `maximumTTL`).
/// - NXDOMAIN and no-data answers are kept for the negative TTL their SOA gave
///   ([RFC 2308 §5](https://www.rfc-editor.org/rfc/rfc2308#section-5)), capped by
///   `maximumNegativeTTL`; without an SOA they are not kept.
/// - Failures (timeouts, SERVFAIL) are never kept.
/// - At most `capacity` entries: past it, expired entries go first, then the least
///   recently used.
/// - Concurrent look-ups of the same name and type share one upstream query.
/// - The DNSSEC status is kept with the answer (DANE needs it), so everything is asked
///   upstream through `securedLookup`.
public final class CachingResolver: DNSResolver {
    public struct Statistics: Sendable, Hashable {
        /// Look-ups answered from the cache.
        public var hits = 0
        /// Look-ups not answered from the cache (some joined a query already running).
        public var misses = 0
        /// Queries sent upstream.
        public var upstreamQueries = 0
        /// Entries held now.
        public var entries = 0
    }

    public let upstream: any DNSResolver
    public let capacity: Int
    public let maximumTTL: UInt32
    public let maximumNegativeTTL: UInt32
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex(CacheState())

    public init(
        upstream: any DNSResolver, capacity: Int = 10_000, maximumTTL: UInt32 = 86_400,
        maximumNegativeTTL: UInt32 = 10_800, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.upstream = upstream
        self.capacity = max(1, capacity)
        self.maximumTTL = maximumTTL
        self.maximumNegativeTTL = maximumNegativeTTL
        self.now = now
    }

    public var statistics: Statistics {
        state.withLock { state in
            Statistics(
                hits: state.hits, misses: state.misses, upstreamQueries: state.upstreamQueries,
                entries: state.entries.count)
        }
    }

    /// Forgets every entry.
    public func removeAll() {
        state.withLock { $0.entries.removeAll() }
    }

    public func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
        await securedLookup(name, type: type).result
    }

    public func securedLookup(_ name: DNSName, type: DNSRecordType) async -> DNSSecuredResult<DNSRecord> {
        let key = CacheKey(name: name, type: type)
        let instant = now()
        enum Plan {
            case cached(DNSSecuredResult<DNSRecord>)
            case join(Task<DNSSecuredResult<DNSRecord>, Never>)
            case query(Task<DNSSecuredResult<DNSRecord>, Never>)
        }
        let upstream = self.upstream
        let plan: Plan = state.withLock { state in
            if let cached = state.cachedResult(for: key, at: instant) {
                state.hits += 1
                return .cached(cached)
            }
            state.misses += 1
            if let running = state.inFlight[key] { return .join(running) }
            let task = Task { await upstream.securedLookup(name, type: type) }
            state.inFlight[key] = task
            state.upstreamQueries += 1
            return .query(task)
        }
        switch plan {
        case .cached(let result):
            return result
        case .join(let task):
            return await task.value
        case .query(let task):
            let result = await task.value
            let stored = now()
            state.withLock { state in
                state.inFlight[key] = nil
                if let lifetime = cacheLifetime(of: result.result) {
                    let expires = stored.advanced(by: .seconds(Int64(lifetime)))
                    state.store(result, for: key, expires: expires, at: stored, capacity: capacity)
                }
            }
            return result
        }
    }

    /// How many seconds `result` may be kept, or `nil` for not at all.
    private func cacheLifetime(of result: DNSLookupResult<DNSRecord>) -> UInt32? {
        switch result {
        case .answer(_, let ttl):
            return ttl > 0 ? min(ttl, maximumTTL) : nil
        case .void(let void):
            guard let ttl = void.negativeTTL, ttl > 0 else { return nil }
            return min(ttl, maximumNegativeTTL)
        case .failure:
            return nil
        }
    }
}

struct CacheKey: Hashable, Sendable {
    var name: DNSName
    var type: DNSRecordType
}

private struct CacheEntry {
    var result: DNSSecuredResult<DNSRecord>
    var expires: ContinuousClock.Instant
    var lastUsed: UInt64
}

private struct CacheState {
    var entries: [CacheKey: CacheEntry] = [:]
    var inFlight: [CacheKey: Task<DNSSecuredResult<DNSRecord>, Never>] = [:]
    var useCounter: UInt64 = 0
    var hits = 0
    var misses = 0
    var upstreamQueries = 0

    /// The entry's result with the TTL it has left, or `nil` if absent or expired.
    mutating func cachedResult(for key: CacheKey, at instant: ContinuousClock.Instant) -> DNSSecuredResult<DNSRecord>? {
        guard var entry = entries[key] else { return nil }
        guard entry.expires > instant else {
            entries[key] = nil
            return nil
        }
        useCounter += 1
        entry.lastUsed = useCounter
        entries[key] = entry
        let remaining = UInt32(clamping: (entry.expires - instant).components.seconds)
        let security = entry.result.security
        switch entry.result.result {
        case .answer(let records, _): return DNSSecuredResult(.answer(records: records, ttl: remaining), security: security)
        case .void(var void):
            void.negativeTTL = remaining
            return DNSSecuredResult(.void(void), security: security)
        case .failure: return entry.result
        }
    }

    mutating func store(
        _ result: DNSSecuredResult<DNSRecord>, for key: CacheKey, expires: ContinuousClock.Instant,
        at instant: ContinuousClock.Instant, capacity: Int
    ) {
        useCounter += 1
        entries[key] = CacheEntry(result: result, expires: expires, lastUsed: useCounter)
        guard entries.count > capacity else { return }
        entries = entries.filter { $0.value.expires > instant }
        guard entries.count > capacity else { return }
        // Drop the least recently used tenth (at least the excess) in one pass.
        let excess = entries.count - capacity + capacity / 10
        let victims = entries.sorted { $0.value.lastUsed < $1.value.lastUsed }.prefix(excess).map(\.key)
        for victim in victims { entries[victim] = nil }
    }
}
