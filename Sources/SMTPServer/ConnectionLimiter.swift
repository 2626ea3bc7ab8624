import Synchronization
import NIOCore

/// Counts open connections in total and per client address, shared by all
/// event loops; beyond either limit a new client gets 421 4.7.0.
///
/// It also says when the table is nearly full ("stress", after Postfix):
/// sessions then shorten their timers so that clients holding slots idle
/// make room for new ones. Entering and leaving are reported once each, with
/// some hysteresis so a table hovering at the threshold does not flap.
public final class ConnectionLimiter: Sendable {
    private struct Counts {
        var total = 0
        var perAddress: [String: Int] = [:]
        var stressed = false
    }

    public let maxTotal: Int
    public let maxPerAddress: Int
    /// Open connections at which stress starts (nil: never) and below which it ends.
    private let stressStart: Int?
    private let stressEnd: Int
    private let counts = Mutex(Counts())
    private let onStressChange: @Sendable (_ stressed: Bool, _ open: Int) -> Void

    public init(maxTotal: Int, maxPerAddress: Int, stressPercent: Int = 0,
                onStressChange: @escaping @Sendable (_ stressed: Bool, _ open: Int) -> Void = { _, _ in }) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
        let start = stressPercent > 0 ? max(1, maxTotal * stressPercent / 100) : nil
        stressStart = start
        // Below this stress ends; at least 1, so a threshold of one connection can end too.
        stressEnd = start.map { max(1, $0 - max(1, $0 / 10)) } ?? 0
        self.onStressChange = onStressChange
    }

    /// The table is nearly full: sessions use the stress timers.
    public var isStressed: Bool { counts.withLock { $0.stressed } }

    public enum Refusal: Error, Sendable, Equatable {
        case tooManyConnections
        case tooManyFromAddress
    }

    /// Takes a slot for `address`, or says why not. Trusted clients count
    /// towards the total but not towards the per-address limit.
    public func acquire(_ address: String, exemptFromPerAddressLimit exempt: Bool = false) -> Result<ConnectionSlot, Refusal> {
        if let refusal = take(address, exempt: exempt) { return .failure(refusal) }
        return .success(ConnectionSlot(limiter: self, address: address))
    }

    private func take(_ address: String, exempt: Bool) -> Refusal? {
        let (refusal, change) = counts.withLock { counts -> (Refusal?, Int?) in
            if counts.total >= maxTotal { return (.tooManyConnections, nil) }
            let current = counts.perAddress[address, default: 0]
            if current >= maxPerAddress && !exempt { return (.tooManyFromAddress, nil) }
            counts.total += 1
            counts.perAddress[address] = current + 1
            guard let stressStart, !counts.stressed, counts.total >= stressStart else { return (nil, nil) }
            counts.stressed = true
            return (nil, counts.total)
        }
        if let open = change {
            SMTPServerMetrics.stressMode.set(1)
            onStressChange(true, open)
        }
        return refusal
    }

    fileprivate func release(_ address: String) {
        let change = counts.withLock { counts -> Int? in
            counts.total -= 1
            let left = counts.perAddress[address, default: 1] - 1
            counts.perAddress[address] = left > 0 ? left : nil
            guard counts.stressed, counts.total < stressEnd else { return nil }
            counts.stressed = false
            return counts.total
        }
        if let open = change {
            SMTPServerMetrics.stressMode.set(0)
            onStressChange(false, open)
        }
    }

    public var openConnections: Int { counts.withLock { $0.total } }
}

/// One connection's place in the limiter, given back once: when the
/// session decides to close (before its last reply goes out, so a client
/// that reconnects at once after 221 finds the place free) or when the
/// channel closes, whichever comes first.
public final class ConnectionSlot: Sendable {
    private let limiter: ConnectionLimiter
    private let address: String
    private let held = Mutex(true)

    fileprivate init(limiter: ConnectionLimiter, address: String) {
        self.limiter = limiter
        self.address = address
    }

    public func release() {
        let wasHeld = held.withLock { held in
            defer { held = false }
            return held
        }
        if wasHeld { limiter.release(address) }
    }
}

/// The open sessions, so that shutdown can tell each of them (RFC 5321 §3.8:
/// a server ends a session only after QUIT, a timeout or a 421).
public final class SessionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Waiting for the last session to end (shutdown), by token.
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Tokens whose time ran out before they were parked.
        var expired: Set<Int> = []
        var nextToken = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.channels.removeValue(forKey: id)
                guard state.channels.isEmpty else { return [] }
                defer { state.waiters = [:] }
                return Array(state.waiters.values)
            }
            waiters.forEach { $0.resume() }
        }
    }

    /// Returns when no session is open, or after `timeout`; true if none is.
    public func waitUntilEmpty(timeout: Duration) async -> Bool {
        let token = state.withLock { state in
            defer { state.nextToken += 1 }
            return state.nextToken
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { self.stopWaiting(token) }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let parked = state.withLock { state -> Bool in
                if state.channels.isEmpty || state.expired.remove(token) != nil { return false }
                state.waiters[token] = continuation
                return true
            }
            if !parked { continuation.resume() }
        }
        timer.cancel()
        return count == 0
    }

    private func stopWaiting(_ token: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiters.removeValue(forKey: token) { return waiter }
            state.expired.insert(token)
            return nil
        }
        waiter?.resume()
    }

    /// Idle sessions get 421 at once; one in a transaction finishes it first.
    public func announceShutdown() {
        broadcast(ShutdownNotice(force: false))
    }

    /// The grace period is over: 421 and close, whatever the session is doing.
    public func closeAll() {
        broadcast(ShutdownNotice(force: true))
    }

    public var count: Int { state.withLock { $0.channels.count } }

    /// Stress began or ended: every session sets its timer again.
    public func announceTimerChange() {
        broadcast(TimerChangeNotice())
    }

    private func broadcast(_ event: any Sendable) {
        for channel in state.withLock({ Array($0.channels.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(event)
        }
    }
}

/// Sent down each session's pipeline when the timers in force change.
public struct TimerChangeNotice: Sendable {}

/// Sent down each session's pipeline when the daemon stops.
public struct ShutdownNotice: Sendable {
    public var force: Bool
}
