import Foundation

/// Which message is due for a delivery attempt, and when (DESIGN.md:
/// "next-attempt times in memory, rebuilt from the queue at start").
/// A message handed out by `takeDue` is in flight until `finish` is called,
/// so no two workers ever hold the same message.
public final class DeliveryScheduler: @unchecked Sendable {
    private struct Entry: Comparable {
        var due: Date
        var id: QueueID
        static func < (a: Entry, b: Entry) -> Bool { a.due == b.due ? a.id < b.id : a.due < b.due }
    }

    private let lock = NSLock()
    private var heap: [Entry] = []
    /// The due time each waiting message is really scheduled for; heap
    /// entries that disagree are stale and skipped.
    private var scheduled: [QueueID: Date] = [:]
    private var inFlight: Set<QueueID> = []

    public init() {}

    /// Schedules (or reschedules) `id`. Ignored while the message is in
    /// flight: its worker decides what happens next.
    public func schedule(_ id: QueueID, at due: Date) {
        lock.lock()
        defer { lock.unlock() }
        guard !inFlight.contains(id) else { return }
        scheduled[id] = due
        push(Entry(due: due, id: id))
    }

    /// The earliest message due at `now`, now marked in flight.
    public func takeDue(now: Date) -> QueueID? {
        lock.lock()
        defer { lock.unlock() }
        while let top = heap.first {
            guard scheduled[top.id] == top.due else { popTop(); continue } // stale
            guard top.due <= now else { return nil }
            popTop()
            scheduled[top.id] = nil
            inFlight.insert(top.id)
            return top.id
        }
        return nil
    }

    /// The worker is done with `id`: schedule it again, or forget it (delivered,
    /// bounced, removed).
    public func finish(_ id: QueueID, nextAttempt: Date?) {
        lock.lock()
        defer { lock.unlock() }
        inFlight.remove(id)
        if let next = nextAttempt {
            scheduled[id] = next
            push(Entry(due: next, id: id))
        }
    }

    /// Takes `id` out of the schedule for an operator's command, as a worker
    /// would: false while a worker has it. Give it back with `finish`.
    public func claim(_ id: QueueID) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !inFlight.contains(id) else { return false }
        scheduled[id] = nil
        inFlight.insert(id)
        return true
    }

    /// Forgets a message that is not in flight (operator deleted or held it).
    public func remove(_ id: QueueID) {
        lock.lock()
        defer { lock.unlock() }
        scheduled[id] = nil
    }

    /// When the next waiting message falls due, if any.
    public var nextDue: Date? {
        lock.lock()
        defer { lock.unlock() }
        while let top = heap.first, scheduled[top.id] != top.due { popTop() }
        return heap.first?.due
    }

    public var waitingCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return scheduled.count
    }

    public var inFlightCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return inFlight.count
    }

    // MARK: binary heap

    private func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func popTop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left] < heap[smallest] { smallest = left }
            if right < heap.count && heap[right] < heap[smallest] { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
