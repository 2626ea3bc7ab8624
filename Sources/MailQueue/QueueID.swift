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

    /// 16 upper-case hex digits. Written directly: formatting a radix-16
    /// String and padding it cost ~1.7 k instructions, several times per
    /// message (file names, log lines, replies; issue #15).
    public var description: String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            let digits: StaticString = "0123456789ABCDEF"
            var rest = value
            for index in stride(from: 15, through: 0, by: -1) {
                buffer[index] = digits.utf8Start[Int(rest & 0xF)]
                rest >>= 4
            }
            return 16
        }
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
