import Foundation

/// date-time (RFC 3501 §9), the INTERNALDATE an APPEND may give:
/// `"17-Jul-1996 02:44:25 -0700"`.
public struct IMAPDateTime: Hashable, Sendable {
    public var date: IMAPDate
    public var hour: Int
    public var minute: Int
    public var second: Int
    /// The zone's offset east of UTC, in minutes.
    public var zoneMinutes: Int

    public init(date: IMAPDate, hour: Int, minute: Int, second: Int, zoneMinutes: Int) {
        self.date = date
        self.hour = hour
        self.minute = minute
        self.second = second
        self.zoneMinutes = zoneMinutes
    }

    /// The instant it names.
    public var instant: Date {
        let days = CivilTime.unixDays(year: date.year, month: date.month, day: date.day)
        let seconds = days * 86400 + Int64(hour * 3600 + minute * 60 + second) - Int64(zoneMinutes * 60)
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}

extension IMAPInput {
    /// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    /// date-day-fixed = (SP DIGIT) / 2DIGIT; time = 2DIGIT ":" 2DIGIT ":" 2DIGIT;
    /// zone = ("+" / "-") 4DIGIT. A one-digit day without the space is accepted.
    mutating func dateTime() throws(Failure) -> IMAPDateTime {
        try expect(UInt8(ascii: "\""), "date-time")
        _ = skip(UInt8(ascii: " "))
        let day = try digits(1...2, max: 31)
        guard day >= 1, skip(UInt8(ascii: "-")) else { throw .invalidDate }
        let month = String(decoding: take(while: IMAPCharacters.isAlpha), as: UTF8.self).uppercased()
        guard let monthIndex = IMAPDate.monthNames.firstIndex(of: month), skip(UInt8(ascii: "-")) else { throw .invalidDate }
        let year = try digits(4...4, max: 9999)
        guard skip(UInt8(ascii: " ")) else { throw .invalidDate }
        let hour = try digits(2...2, max: 23)
        guard skip(UInt8(ascii: ":")) else { throw .invalidDate }
        let minute = try digits(2...2, max: 59)
        guard skip(UInt8(ascii: ":")) else { throw .invalidDate }
        let second = try digits(2...2, max: 60)
        guard skip(UInt8(ascii: " ")), let sign = peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else {
            throw .invalidDate
        }
        index += 1
        let zone = try digits(4...4, max: 9999)
        guard zone % 100 < 60 else { throw .invalidDate }
        try expect(UInt8(ascii: "\""), "closing quote after date-time")
        let zoneMinutes = (zone / 100 * 60 + zone % 100) * (sign == UInt8(ascii: "-") ? -1 : 1)
        return IMAPDateTime(date: IMAPDate(year: year, month: monthIndex + 1, day: day),
                            hour: hour, minute: minute, second: second, zoneMinutes: zoneMinutes)
    }

    /// A run of `count` digits no larger than `max`.
    private mutating func digits(_ count: ClosedRange<Int>, max: UInt64) throws(Failure) -> Int {
        let run = take(while: IMAPCharacters.isDigit)
        guard count.contains(run.count), let value = IMAPCharacters.number(run, max: max) else { throw .invalidDate }
        return Int(value)
    }
}
