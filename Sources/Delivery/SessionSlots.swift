/// At most `limit` outbound SMTP attempts at work at once (`[delivery]
/// workers`). Taken only once a destination slot is granted, so messages
/// waiting for a busy or slow destination never hold one; waiters are
/// suspended tasks, served first come, first served.
actor SessionSlots {
    private let limit: Int
    private var busy = 0
    private var waiting: [CheckedContinuation<Bool, Never>] = []
    private var stopping = false

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// True with a slot to `release`; false when delivery is stopping.
    func acquire() async -> Bool {
        if stopping { return false }
        if busy < limit {
            busy += 1
            return true
        }
        return await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if !waiting.isEmpty {
            waiting.removeFirst().resume(returning: true) // the slot passes straight on
            return
        }
        busy -= 1
    }

    /// Stops handing out slots; everything waiting is let go with false.
    func stop() {
        stopping = true
        let waiters = waiting
        waiting = []
        for waiter in waiters { waiter.resume(returning: false) }
    }

    /// Slots taken, and attempts waiting for one (tests, metrics).
    var inUse: Int { busy }
    var waitingCount: Int { waiting.count }
}
