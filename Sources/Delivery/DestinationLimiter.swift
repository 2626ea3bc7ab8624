import Foundation

/// At most `limit` connections at once to one next hop; others wait.
actor DestinationLimiter {
    private let limit: Int
    private var active: [String: Int] = [:]
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    func acquire(_ key: String) async {
        if active[key, default: 0] < limit {
            active[key, default: 0] += 1
            return
        }
        await withCheckedContinuation { waiting[key, default: []].append($0) }
    }

    func release(_ key: String) {
        if var queue = waiting[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[key] = queue.isEmpty ? nil : queue
            next.resume() // the slot passes straight to the next waiter
            return
        }
        let left = active[key, default: 1] - 1
        active[key] = left > 0 ? left : nil
    }
}
