import Foundation
import NIOCore
import Synchronization

/// Which message is due for a delivery attempt, and when (DESIGN.md:
/// "next-attempt times in memory, rebuilt from the queue at start").
/// A message handed out by `takeDue` is in flight until `finish` is called,
/// so no two workers ever hold the same message.
public final class DeliveryScheduler: Sendable {
    private let state = Mutex(Schedule())

    public init() {}

    /// Envelopes kept between a commit and the first attempt, at most this many.
    public static let maxFreshEnvelopes = 10_000
    /// Bodies kept with them, at most this many octets in all (a backlog of
    /// small messages must not hold memory: beyond it the file is read).
    public static let maxFreshBodyBytes = 32 << 20

    /// What a commit handed over for the first attempt.
    public struct Fresh: Sendable {
        public var envelope: Envelope
        /// The whole spooled message when it never left memory.
        public var body: HeldBody?
    }

    /// Schedules (or reschedules) `id`. Ignored while the message is in
    /// flight: its worker decides what happens next. `envelope`, the one
    /// just committed, saves the first attempt reading it back from disk
    /// (issue #15: four system calls and a parse per message); it is kept
    /// only until that attempt or an operator's claim, whichever is first.
    public func schedule(_ id: QueueID, at due: Date, envelope: Envelope? = nil, body: HeldBody? = nil) {
        state.withLock { schedule in
            guard !schedule.inFlight.contains(id) else { return }
            schedule.set(id, due: due)
            if let envelope, envelope.id == id, schedule.fresh.count < Self.maxFreshEnvelopes {
                // Counted by the memory they hold, not the octets they carry.
                let keep = body.flatMap { schedule.freshBodyBytes + $0.bytes.capacity <= Self.maxFreshBodyBytes ? $0 : nil }
                schedule.drop(id)
                schedule.fresh[id] = Fresh(envelope: envelope, body: keep)
                schedule.freshBodyBytes += keep?.bytes.capacity ?? 0
            }
        }
    }

    /// The envelope (and body) as committed, for the worker that took `id`
    /// from `takeDue`, if it is still the one on disk (no operator has
    /// claimed the message since); nil: read it from the queue.
    public func takeFresh(_ id: QueueID) -> Fresh? {
        state.withLock { schedule in
            defer { schedule.drop(id) }
            return schedule.fresh[id]
        }
    }

    /// The earliest message due at `now`, now marked in flight.
    public func takeDue(now: Date) -> QueueID? {
        state.withLock { schedule in
            guard let top = schedule.earliest(), top.due <= now else { return nil }
            schedule.popTop()
            schedule.scheduled[top.id] = nil
            schedule.inFlight.insert(top.id)
            return top.id
        }
    }

    /// The worker is done with `id`: schedule it again, or forget it (delivered,
    /// bounced, removed).
    public func finish(_ id: QueueID, nextAttempt: Date?) {
        state.withLock { schedule in
            schedule.inFlight.remove(id)
            schedule.drop(id)
            if let next = nextAttempt { schedule.set(id, due: next) }
        }
    }

    /// Takes `id` out of the schedule for an operator's command, as a worker
    /// would: false while a worker has it. Give it back with `finish`.
    public func claim(_ id: QueueID) -> Bool {
        state.withLock { schedule in
            guard !schedule.inFlight.contains(id) else { return false }
            schedule.scheduled[id] = nil
            schedule.inFlight.insert(id)
            // The operator may change the file: the next attempt reads it.
            schedule.drop(id)
            return true
        }
    }

    /// Forgets a message that is not in flight (operator deleted or held it).
    public func remove(_ id: QueueID) {
        state.withLock { schedule in
            schedule.scheduled[id] = nil
            schedule.drop(id)
        }
    }

    /// When the next waiting message falls due, if any.
    public var nextDue: Date? {
        state.withLock { $0.earliest()?.due }
    }

    public var waitingCount: Int {
        state.withLock { $0.scheduled.count }
    }

    public var inFlightCount: Int {
        state.withLock { $0.inFlight.count }
    }
}

/// The schedule itself: a binary heap of due times, with entries that a
/// reschedule made stale skipped lazily.
private struct Schedule: Sendable {
    struct Entry: Comparable, Sendable {
        var due: Date
        var id: QueueID
        static func < (a: Entry, b: Entry) -> Bool { a.due == b.due ? a.id < b.id : a.due < b.due }
    }

    var heap: [Entry] = []
    /// The due time each waiting message is really scheduled for; heap
    /// entries that disagree are stale.
    var scheduled: [QueueID: Date] = [:]
    var inFlight: Set<QueueID> = []
    /// Envelopes as committed, until their first attempt (`schedule(_:at:envelope:)`).
    var fresh: [QueueID: DeliveryScheduler.Fresh] = [:]
    var freshBodyBytes = 0

    mutating func drop(_ id: QueueID) {
        if let gone = fresh.removeValue(forKey: id) { freshBodyBytes -= gone.body?.bytes.capacity ?? 0 }
    }

    mutating func set(_ id: QueueID, due: Date) {
        scheduled[id] = due
        push(Entry(due: due, id: id))
    }

    /// The earliest entry that is not stale (stale ones are dropped).
    mutating func earliest() -> Entry? {
        while let top = heap.first, scheduled[top.id] != top.due { popTop() }
        return heap.first
    }

    mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popTop() {
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

/// A committed message that never left memory, handed to its first delivery
/// attempt so that it is not read back from the queue file (issue #15).
public struct HeldBody: Sendable {
    /// The spooled octets (a view: no copy).
    public var bytes: ByteBuffer
    /// Every line ends in CRLF, fits 998 octets, holds no NUL and starts
    /// without ".": dot-stuffing (RFC 5321 §4.5.2) would leave the octets
    /// as they are, so DATA sends them unchanged without a pass over them.
    public var isPlain: Bool

    public init(bytes: ByteBuffer, isPlain: Bool) {
        self.bytes = bytes
        self.isPlain = isPlain
    }
}
