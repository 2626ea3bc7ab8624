import Synchronization

/// Counts events per key over a sliding window, in memory on this node.
/// The window is approximated by two fixed buckets (the current one and
/// the previous one, weighted by how much of it still overlaps), which
/// needs two counters per key instead of a timestamp per event.
public final class RateLimiter: Sendable {
    struct Counter {
        var bucketStart: Double
        var current: Int
        var previous: Int
    }

    public let window: Double
    private let now: @Sendable () -> Double
    private let maxKeys: Int
    private let counters = Mutex<[String: Counter]>([:])

    public init(window: Double, maxKeys: Int = 100_000, now: @escaping @Sendable () -> Double = RateLimiter.monotonicSeconds) {
        self.window = window
        self.maxKeys = maxKeys
        self.now = now
    }

    /// Adds `count` events for `key` unless that would pass `limit`;
    /// returns false (and counts nothing) when it would.
    public func admit(_ key: String, count: Int = 1, limit: Int) -> Bool {
        let time = now()
        return counters.withLock { table in
            var counter = table[key] ?? Counter(bucketStart: time, current: 0, previous: 0)
            advance(&counter, to: time)
            let overlap = max(0, 1 - (time - counter.bucketStart) / window)
            let estimate = Double(counter.previous) * overlap + Double(counter.current)
            guard estimate + Double(count) <= Double(limit) else {
                table[key] = counter
                return false
            }
            counter.current += count
            if table[key] == nil && table.count >= maxKeys { prune(&table, at: time) }
            table[key] = counter
            return true
        }
    }

    private func advance(_ counter: inout Counter, to time: Double) {
        let elapsed = time - counter.bucketStart
        guard elapsed >= window else { return }
        counter.previous = elapsed < 2 * window ? counter.current : 0
        counter.current = 0
        counter.bucketStart += (elapsed / window).rounded(.down) * window
    }

    /// Drops keys with nothing in the window; if the table is still full,
    /// the oldest buckets go.
    private func prune(_ table: inout [String: Counter], at time: Double) {
        table = table.filter { time - $0.value.bucketStart < 2 * window }
        if table.count >= maxKeys {
            let oldest = table.sorted { $0.value.bucketStart < $1.value.bucketStart }.prefix(table.count / 10 + 1)
            for (key, _) in oldest { table[key] = nil }
        }
    }

    private static let origin = ContinuousClock.now

    /// Seconds on the monotonic clock (wall-clock jumps don't reset limits).
    public static let monotonicSeconds: @Sendable () -> Double = {
        let elapsed = origin.duration(to: .now).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }
}
