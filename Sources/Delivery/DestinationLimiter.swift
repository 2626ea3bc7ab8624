import Foundation

/// Per next hop (address:port): at most `limit` attempts at once, and the
/// hop's `DestinationHealth`. A message waiting here is a suspended task and
/// holds no session slot, so a slow or silent hop delays only its own mail.
/// When a hop is marked dead, everything waiting for it is let go at once.
actor DestinationLimiter {
    enum Grant: Sendable, Hashable {
        /// Go ahead; `probe` when this is the one try of a dead destination.
        case granted(probe: Bool)
        /// The destination is dead: defer with this reason, without trying.
        case suspended(DeliveryReason)
        /// Delivery is stopping: do not start anything.
        case stopping
    }

    private struct Destination {
        var health: DestinationHealth
        var active = 0
        var waiting: [CheckedContinuation<Grant, Never>] = []
    }

    private let limit: Int
    private let policy: DestinationHealth.Policy
    private let now: @Sendable () -> Date
    private var destinations: [String: Destination] = [:]
    private var stopping = false

    init(limit: Int, policy: DestinationHealth.Policy, now: @escaping @Sendable () -> Date = Date.init) {
        self.limit = max(1, limit)
        self.policy = policy
        self.now = now
    }

    func acquire(_ key: String) async -> Grant {
        if stopping { return .stopping }
        var destination = destinations[key] ?? Destination(health: DestinationHealth(policy: policy))
        let grant = admit(&destination, now: now())
        destinations[key] = destination
        if let grant { return grant }
        return await withCheckedContinuation { destinations[key]?.waiting.append($0) }
    }

    /// What the destination allows the next attempt now; nil: wait.
    private func admit(_ destination: inout Destination, now time: Date) -> Grant? {
        switch destination.health.admit(now: time) {
        case .suspended(let reason):
            return .suspended(reason)
        case .probe:
            destination.active += 1
            return .granted(probe: true)
        case .open where destination.active < limit:
            destination.active += 1
            return .granted(probe: false)
        case .open, .waitForProbe:
            return nil
        }
    }

    /// Ends an attempt granted by `acquire`: `verdict` nil when none was made.
    /// Returns what changed, for the log.
    @discardableResult
    func release(_ key: String, verdict: DestinationHealth.Verdict?) -> DestinationHealth.Transition? {
        guard var destination = destinations[key] else { return nil }
        let time = now()
        var transition: DestinationHealth.Transition?
        if let verdict {
            transition = destination.health.record(verdict, now: time)
        } else {
            destination.health.abandon(now: time)
        }
        destination.active -= 1
        handOut(&destination, now: time)
        let idle = destination.active == 0 && destination.waiting.isEmpty && destination.health.isForgettable(now: time)
        destinations[key] = idle ? nil : destination
        return transition
    }

    /// Lets waiters go while the destination admits them: up to the limit,
    /// the one probe, or all at once as suspended when it is dead.
    private func handOut(_ destination: inout Destination, now time: Date) {
        while !destination.waiting.isEmpty, let grant = admit(&destination, now: time) {
            destination.waiting.removeFirst().resume(returning: grant)
        }
    }

    /// Stops granting; everything waiting is let go with `.stopping`.
    func stop() {
        stopping = true
        for key in destinations.keys {
            let waiting = destinations[key]?.waiting ?? []
            destinations[key]?.waiting = []
            for waiter in waiting { waiter.resume(returning: .stopping) }
        }
    }

    /// `queue flush`: every dead destination may be probed at once.
    func endCoolDowns() {
        let time = now()
        for key in destinations.keys { destinations[key]?.health.endCoolDown(now: time) }
    }

    /// Forgets destinations with nothing left to remember (run now and then).
    func prune() {
        let time = now()
        destinations = destinations.filter { _, destination in
            destination.active > 0 || !destination.waiting.isEmpty || !destination.health.isForgettable(now: time)
        }
    }

    /// The health of `key` and the attempts waiting for it (tests, metrics).
    func health(_ key: String) -> DestinationHealth.State? {
        destinations[key]?.health.state
    }

    /// Destinations dead now, or waiting for the answer of their probe.
    func deadCount() -> Int {
        destinations.values.count { destination in
            switch destination.health.state {
            case .alive: return false
            case .dead, .probing: return true
            }
        }
    }

    func waitingCount(_ key: String) -> Int {
        destinations[key]?.waiting.count ?? 0
    }
}
