import Foundation
import Synchronization

/// A queue ID: 16 upper-case hex digits of a strictly increasing microsecond
/// clock, so IDs are unique within a queue and sort by arrival time.
public struct QueueID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: UInt64

    public init(value: UInt64) {
        self.value = value
    }

    public init?(_ text: some StringProtocol) {
        guard text.utf8.count == 16, let value = UInt64(text, radix: 16),
              text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) }) else { return nil }
        self.value = value
    }

    public var description: String {
        let hex = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 16 - hex.utf8.count)) + hex
    }

    /// When the ID was made (its microsecond clock).
    public var date: Date { Date(timeIntervalSince1970: Double(value) / 1_000_000) }

    public static func < (lhs: QueueID, rhs: QueueID) -> Bool { lhs.value < rhs.value }
}

/// Hands out queue IDs; never repeats one, even if the wall clock steps back.
public final class QueueIDGenerator: Sendable {
    private let last: Mutex<UInt64>

    /// `after`: the highest ID already in the queue, so a restart with a
    /// clock that went backwards cannot reuse an ID.
    public init(after existing: QueueID? = nil) {
        last = Mutex(existing?.value ?? 0)
    }

    public func next() -> QueueID {
        var now = timeval()
        gettimeofday(&now, nil)
        let micros = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_usec)
        return QueueID(value: last.withLock { last in
            last = max(micros, last + 1)
            return last
        })
    }
}
