import Foundation
import Synchronization

/// RFC 5322 §3.3 date-time, e.g. "Fri, 27 Nov 2026 21:15:16 +0000".
/// Formatted with localtime_r rather than Calendar: it runs twice per
/// accepted message (Received and Date), so it must be cheap.
public enum MessageDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats `date` in the machine's local time zone with its numeric offset.
    public static func string(from date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        // Formatted once per second: every accepted message needs one or two.
        if let cached = lastFormatted.withLock({ $0.seconds == seconds ? $0.text : nil }) { return cached }
        var parts = tm()
        localtime_r(&seconds, &parts)
        let text = format(parts, offsetSeconds: Int(parts.tm_gmtoff))
        lastFormatted.withLock { $0 = (seconds, text) }
        return text
    }

    private static let lastFormatted = Mutex<(seconds: time_t, text: String)>((-1, ""))

    /// Formats `date` in a given zone (tests, DSNs with a fixed zone).
    public static func string(from date: Date, timeZone: TimeZone) -> String {
        let offset = timeZone.secondsFromGMT(for: date)
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down)) + time_t(offset)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return format(parts, offsetSeconds: offset)
    }

    private static func format(_ c: tm, offsetSeconds: Int) -> String {
        let sign = offsetSeconds < 0 ? "-" : "+"
        let minutes = abs(offsetSeconds) / 60
        return "\(days[Int(c.tm_wday)]), \(c.tm_mday) \(months[Int(c.tm_mon)]) \(Int(c.tm_year) + 1900) "
            + "\(pad(Int(c.tm_hour))):\(pad(Int(c.tm_min))):\(pad(Int(c.tm_sec))) "
            + "\(sign)\(pad(minutes / 60))\(pad(minutes % 60))"
    }

    private static func pad(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}

/// Message-ID generation (RFC 5322 §3.6.4): unique left part from the queue ID
/// and random bits, right part the host's name.
public enum MessageID {
    public static func generate(uniquePart: String, domain: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let random = String(rng.next() as UInt64, radix: 36)
        return "<\(uniquePart).\(random)@\(domain)>"
    }
}
