import Foundation

/// A policy as fetched, with what is needed to know when to fetch again.
public struct CachedPolicy: Sendable, Hashable {
    public var policy: MTASTSPolicy
    /// The TXT record's id when the policy was fetched.
    public var id: String
    public var fetched: Date

    public init(policy: MTASTSPolicy, id: String, fetched: Date) {
        self.policy = policy
        self.id = id
        self.fetched = fetched
    }

    /// §3.2: a policy may be used up to max_age seconds after its fetch.
    public var expires: Date { fetched.addingTimeInterval(TimeInterval(policy.maxAge)) }

    public func isFresh(at now: Date) -> Bool { now < expires }
}

/// What the `_mta-sts` TXT look-up found this time.
public enum MTASTSDiscovery: Sendable, Hashable {
    case record(MTASTSRecord)
    /// No (usable) record: the domain publishes no policy now.
    case absent(MTASTSRecordError)
    /// The look-up failed (timeout, SERVFAIL): nothing is known.
    case lookupFailed(String)
}

/// Per-domain policy cache and the RFC 8461 §5.1 rules for it; no clock and
/// no I/O of its own, so the decisions are tested with given dates.
public struct MTASTSCache: Sendable {
    public enum Plan: Sendable, Hashable {
        /// Apply this cached policy without fetching.
        case use(CachedPolicy)
        /// Fetch the policy; if that fails, apply `fallback` (a fresh cached one) if any.
        case fetch(id: String, fallback: CachedPolicy?)
        /// No policy applies: why.
        case noPolicy(String)
    }

    private var entries: [String: CachedPolicy] = [:]

    public init() {}

    public subscript(domain: String) -> CachedPolicy? {
        entries[domain.lowercased()]
    }

    /// §5.1: an unchanged id and an unexpired policy need no fetch; a new id
    /// or an expired policy is fetched again; when DNS shows no record (or
    /// cannot be asked), an unexpired cached policy still applies.
    public func plan(domain: String, discovery: MTASTSDiscovery, now: Date) -> Plan {
        let fresh = entries[domain.lowercased()].flatMap { $0.isFresh(at: now) ? $0 : nil }
        switch discovery {
        case .record(let record):
            if let fresh, fresh.id == record.id { return .use(fresh) }
            return .fetch(id: record.id, fallback: fresh)
        case .absent(let problem):
            return fresh.map(Plan.use) ?? .noPolicy("\(problem)")
        case .lookupFailed(let problem):
            return fresh.map(Plan.use) ?? .noPolicy("TXT look-up failed: \(problem)")
        }
    }

    public mutating func store(_ entry: CachedPolicy, domain: String) {
        entries[domain.lowercased()] = entry
    }

    /// Forgets expired entries (their memory; they would not be used anyway).
    public mutating func prune(now: Date) {
        entries = entries.filter { $0.value.isFresh(at: now) }
    }

    public var count: Int { entries.count }
}
