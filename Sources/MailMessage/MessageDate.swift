import Foundation

/// RFC 5322 §3.3 date-time, e.g. "Fri, 27 Nov 2026 21:15:16 +0000".
public enum MessageDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats `date` in the machine's local time zone with its numeric offset.
    public static func string(from date: Date, timeZone: TimeZone = .current) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let offset = timeZone.secondsFromGMT(for: date)
        let sign = offset < 0 ? "-" : "+"
        let minutes = abs(offset) / 60
        return "\(days[(c.weekday ?? 1) - 1]), \(c.day ?? 1) \(months[(c.month ?? 1) - 1]) \(c.year ?? 1970) "
            + "\(pad(c.hour ?? 0)):\(pad(c.minute ?? 0)):\(pad(c.second ?? 0)) "
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
