import Foundation
import Synchronization

/// Per scanner: how many messages may be in flight to it, and a circuit
/// breaker, so a dead or crawling scanner costs sessions no more than its
/// `on_error` answer. Shared by every policy that names the same scanner
/// (a key of back end and address), and kept across reloads while the
/// limits stay the same.
public final class ScannerGate: Sendable {
    public enum Admission: Equatable, Sendable {
        /// Closed breaker: scan.
        case go
        /// The cool-down is over: this scan is the one probe.
        case probe
        /// Open: answer `on_error` at once.
        case open
    }

    struct Breaker {
        var failures = 0
        var openUntil: ContinuousClock.Instant?
        var probing = false
    }

    struct Slots {
        var inFlight = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextID = 0
    }

    public let maxInFlight: Int
    public let failureLimit: Int
    public let coolDown: Duration
    private let breaker = Mutex(Breaker())
    private let slots = Mutex(Slots())

    public init(maxInFlight: Int, failureLimit: Int, coolDown: Duration) {
        self.maxInFlight = max(1, maxInFlight)
        self.failureLimit = max(1, failureLimit)
        self.coolDown = coolDown
    }

    // MARK: Circuit breaker

    public func admit(now: ContinuousClock.Instant = .now) -> Admission {
        breaker.withLock { state in
            guard let until = state.openUntil else { return .go }
            if now < until || state.probing { return .open }
            state.probing = true
            return .probe
        }
    }

    /// What a result did to the breaker (for the log and the gauge),
    /// decided under the lock so concurrent results cannot misreport it.
    public enum Transition: Equatable, Sendable {
        case none, opened, closed
    }

    @discardableResult
    public func record(success: Bool, now: ContinuousClock.Instant = .now) -> Transition {
        breaker.withLock { state in
            state.probing = false
            let wasOpen = state.openUntil != nil
            if success {
                state.failures = 0
                state.openUntil = nil
                return wasOpen ? .closed : .none
            }
            state.failures += 1
            if state.failures >= failureLimit || wasOpen {
                state.openUntil = now + coolDown
                return wasOpen ? .none : .opened
            }
            return .none
        }
    }

    public var isOpen: Bool { breaker.withLock { $0.openUntil != nil } }

    // MARK: Messages in flight

    /// Waits for a slot for at most `timeout`; false when none came.
    public func acquire(timeout: Duration) async -> Bool {
        await withCheckedContinuation { continuation in
            // Taking a free slot and queueing happen under one lock, so a
            // release between them cannot be missed.
            let waiting: Int? = slots.withLock { state in
                if state.inFlight < maxInFlight {
                    state.inFlight += 1
                    return nil
                }
                state.nextID += 1
                state.waiters.append((state.nextID, continuation))
                return state.nextID
            }
            guard let id = waiting else { return continuation.resume(returning: true) }
            Task {
                try? await Task.sleep(for: timeout)
                let expired: CheckedContinuation<Bool, Never>? = slots.withLock { state in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index).continuation
                }
                expired?.resume(returning: false)
            }
        }
    }

    /// Hands the slot to the longest waiter, or frees it.
    public func release() {
        let next: CheckedContinuation<Bool, Never>? = slots.withLock { state in
            if state.waiters.isEmpty {
                state.inFlight -= 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume(returning: true)
    }

    public var inFlight: Int { slots.withLock { $0.inFlight } }

    // MARK: Sharing

    private static let registry = Mutex([String: ScannerGate]())

    /// The gate for a scanner (`key`) with these limits: policies naming
    /// the same scanner with the same limits share it, across reloads too;
    /// other limits get a gate of their own instead of replacing this one.
    public static func shared(key: String, maxInFlight: Int, failureLimit: Int, coolDown: Duration) -> ScannerGate {
        let fullKey = "\(key) \(maxInFlight) \(failureLimit) \(coolDown)"
        return registry.withLock { gates in
            if let gate = gates[fullKey] { return gate }
            let gate = ScannerGate(maxInFlight: maxInFlight, failureLimit: failureLimit, coolDown: coolDown)
            gates[fullKey] = gate
            return gate
        }
    }
}
