import Dispatch
import Synchronization

/// Failed SMTP AUTH attempts per client address, shared by all connections.
/// After `maxFailures` failures within `window` seconds of the first, the address
/// is blocked for `window` seconds from the last one (the server answers 454 4.7.0
/// to AUTH, or 421 and closes). Callers may key IPv6 clients by their /64.
public final class AuthThrottle: Sendable {
    private struct Entry {
        var failures: Int
        var firstFailure: Double
        var blockedUntil: Double?

        func isExpired(at now: Double, window: Double) -> Bool {
            if let blockedUntil { return now >= blockedUntil }
            return now - firstFailure >= window
        }
    }

    private struct Table {
        var entries: [String: Entry] = [:]
        var lastPrune: Double
    }

    public let maxFailures: Int
    public let window: Double
    /// At most this many addresses are tracked; beyond it the oldest are forgotten.
    public let capacity: Int
    private let now: @Sendable () -> Double
    private let table: Mutex<Table>

    /// Seconds on a monotonic clock, the default time source.
    public static let monotonicSeconds: @Sendable () -> Double = {
        Double(DispatchTime.now().uptimeNanoseconds) / 1_000_000_000
    }

    public init(maxFailures: Int, window: Double, capacity: Int = 100_000,
                now: @escaping @Sendable () -> Double = AuthThrottle.monotonicSeconds) {
        precondition(maxFailures > 0 && window > 0 && capacity > 0, "AuthThrottle limits must be positive")
        self.maxFailures = maxFailures
        self.window = window
        self.capacity = capacity
        self.now = now
        self.table = Mutex(Table(lastPrune: now()))
    }

    /// Whether `ip` has used up its failures and must wait.
    public func isBlocked(_ ip: String) -> Bool {
        let now = self.now()
        return table.withLock { table in
            guard let blockedUntil = table.entries[ip]?.blockedUntil else { return false }
            return now < blockedUntil
        }
    }

    /// Counts a failed attempt; true when `ip` has now reached the limit.
    @discardableResult
    public func recordFailure(_ ip: String) -> Bool {
        let now = self.now()
        return table.withLock { table in
            prune(&table, now: now)
            var entry = table.entries[ip].flatMap { $0.isExpired(at: now, window: window) ? nil : $0 }
                ?? Entry(failures: 0, firstFailure: now)
            if entry.failures == 0, table.entries[ip] == nil { makeRoom(&table, now: now) }
            entry.failures += 1
            if entry.failures >= maxFailures { entry.blockedUntil = now + window }
            table.entries[ip] = entry
            return entry.failures >= maxFailures
        }
    }

    /// Addresses currently tracked.
    public var trackedCount: Int { table.withLock { $0.entries.count } }

    /// Drops expired entries at most once per window, so the work is amortised.
    private func prune(_ table: inout Table, now: Double) {
        guard now - table.lastPrune >= window else { return }
        table.lastPrune = now
        table.entries = table.entries.filter { !$0.value.isExpired(at: now, window: window) }
    }

    /// Before a new address is added to a full table: drop the expired entries and,
    /// if that is not enough, the oldest tenth (sorting once per many insertions).
    private func makeRoom(_ table: inout Table, now: Double) {
        guard table.entries.count >= capacity else { return }
        table.lastPrune = now
        table.entries = table.entries.filter { !$0.value.isExpired(at: now, window: window) }
        let excess = table.entries.count - capacity + 1
        guard excess > 0 else { return }
        let evict = max(excess, capacity / 10)
        let oldest = table.entries.sorted { $0.value.firstFailure < $1.value.firstFailure }.prefix(evict)
        for (ip, _) in oldest { table.entries.removeValue(forKey: ip) }
    }
}
