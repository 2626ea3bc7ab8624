import Foundation
import Synchronization

/// Log timestamps, RFC 3339 in UTC with milliseconds
/// (`2026-12-07T01:02:03.456Z`). The part up to the second is formatted
/// once per second and reused: formatting every line's date from scratch
/// cost about 7 k instructions per line (bench/README.md, cost budget).
enum LogTimestamp {
    private static let cached = Mutex<(second: Int, prefix: [UInt8])>((-1, []))

    static func now() -> [UInt8] {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return format(seconds: Int(now.tv_sec), milliseconds: Int(now.tv_nsec / 1_000_000))
    }

    static func format(seconds: Int, milliseconds: Int) -> [UInt8] {
        var text = cached.withLock { cache in
            if cache.second != seconds { cache = (seconds, dateAndTime(seconds)) }
            return cache.prefix
        }
        text.append(UInt8(ascii: "."))
        append(milliseconds, width: 3, to: &text)
        text.append(UInt8(ascii: "Z"))
        return text
    }

    /// "YYYY-MM-DDTHH:MM:SS".
    private static func dateAndTime(_ seconds: Int) -> [UInt8] {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var text: [UInt8] = []
        text.reserveCapacity(24)
        append(Int(parts.tm_year) + 1900, width: 4, to: &text)
        text.append(UInt8(ascii: "-"))
        append(Int(parts.tm_mon) + 1, width: 2, to: &text)
        text.append(UInt8(ascii: "-"))
        append(Int(parts.tm_mday), width: 2, to: &text)
        text.append(UInt8(ascii: "T"))
        append(Int(parts.tm_hour), width: 2, to: &text)
        text.append(UInt8(ascii: ":"))
        append(Int(parts.tm_min), width: 2, to: &text)
        text.append(UInt8(ascii: ":"))
        append(Int(parts.tm_sec), width: 2, to: &text)
        return text
    }

    /// Decimal digits of a value ≥ 0, zero-padded to `width` (more digits when needed).
    private static func append(_ value: Int, width: Int, to text: inout [UInt8]) {
        var count = 1, power = 10
        while value >= power { count += 1; power *= 10 }
        text += repeatElement(UInt8(ascii: "0"), count: max(width, count))
        var rest = value, index = text.count - 1
        while rest > 0 {
            text[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            index -= 1
        }
    }
}
