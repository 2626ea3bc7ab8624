/// Date-times, dates and times (TOML v1.0 "Offset Date-Time" to "Local
/// Time", RFC 3339 §5.6). The shape and ranges are checked; the text is
/// kept as written.
extension TOMLParser {
    /// True when the digits at `position` open a date (`1979-`) or a time (`07:`).
    func looksLikeDateOrTime() -> Bool {
        func digit(_ ahead: Int) -> Bool { peek(ahead).map(TOMLByte.isDigit) ?? false }
        guard digit(0), digit(1) else { return false }
        return peek(2) == TOMLByte.colon || (digit(2) && digit(3) && peek(4) == TOMLByte.minus)
    }

    /// date-time = offset-date-time / local-date-time / local-date / local-time
    /// offset-date-time = full-date time-delim full-time; time-delim = "T" / %x20
    mutating func parseDateTime() throws(TOMLError) -> String {
        let start = position
        if peek(2) == TOMLByte.colon {
            try parsePartialTime(start: start)
            if let byte = peek(), byte | 0x20 == UInt8(ascii: "z") || byte == TOMLByte.plus || byte == TOMLByte.minus {
                throw dateTimeError("a time without a date cannot have a time-zone offset", start: start)
            }
        } else {
            try parseFullDate(start: start)
            if let byte = peek(), startsTime(afterDelimiter: byte) {
                position += 1
                try parsePartialTime(start: start)
                try parseOffset(start: start)
            }
        }
        if let byte = peek(), TOMLByte.isValueWord(byte) {
            throw dateTimeError("unexpected \(describeCharacter(at: position))", start: start)
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// "T" or "t" always starts a time; a space only when a time follows,
    /// so `1979-05-27 # comment` stays a date.
    private func startsTime(afterDelimiter byte: UInt8) -> Bool {
        if byte | 0x20 == UInt8(ascii: "t") { return true }
        guard byte == TOMLByte.space, let tens = peek(1), let ones = peek(2) else { return false }
        return TOMLByte.isDigit(tens) && TOMLByte.isDigit(ones) && peek(3) == TOMLByte.colon
    }

    /// full-date = date-fullyear "-" date-month "-" date-mday
    private mutating func parseFullDate(start: Int) throws(TOMLError) {
        let year = try readDigits(4, start: start, expecting: "a four-digit year")
        try expect(TOMLByte.minus, start: start, expecting: "'-' after the year")
        let month = try readDigits(2, start: start, expecting: "a two-digit month")
        try expect(TOMLByte.minus, start: start, expecting: "'-' after the month")
        let day = try readDigits(2, start: start, expecting: "a two-digit day")
        guard (1...12).contains(month) else { throw dateTimeError("month must be 01 to 12", start: start) }
        let days = Self.daysIn(month: month, year: year)
        guard (1...days).contains(day) else {
            throw dateTimeError("day must be 01 to \(days) in that month", start: start)
        }
    }

    /// partial-time = time-hour ":" time-minute ":" time-second [ time-secfrac ]
    private mutating func parsePartialTime(start: Int) throws(TOMLError) {
        let hour = try readDigits(2, start: start, expecting: "a two-digit hour")
        try expect(TOMLByte.colon, start: start, expecting: "':' after the hour")
        let minute = try readDigits(2, start: start, expecting: "a two-digit minute")
        try expect(TOMLByte.colon, start: start, expecting: "':' and seconds after the minute")
        let second = try readDigits(2, start: start, expecting: "two-digit seconds")
        if peek() == TOMLByte.dot {
            position += 1
            guard let digit = peek(), TOMLByte.isDigit(digit) else {
                throw dateTimeError("expected digits after the decimal point", start: start)
            }
            while let digit = peek(), TOMLByte.isDigit(digit) { position += 1 }
        }
        guard hour <= 23 else { throw dateTimeError("hour must be 00 to 23", start: start) }
        guard minute <= 59 else { throw dateTimeError("minute must be 00 to 59", start: start) }
        guard second <= 60 else { throw dateTimeError("second must be 00 to 60", start: start) }
    }

    /// time-offset = "Z" / time-numoffset; time-numoffset = ( "+" / "-" ) time-hour ":" time-minute
    /// Absent for a local date-time.
    private mutating func parseOffset(start: Int) throws(TOMLError) {
        guard let byte = peek() else { return }
        if byte | 0x20 == UInt8(ascii: "z") {
            position += 1
            return
        }
        guard byte == TOMLByte.plus || byte == TOMLByte.minus else { return }
        position += 1
        let hour = try readDigits(2, start: start, expecting: "a two-digit offset hour")
        try expect(TOMLByte.colon, start: start, expecting: "':' in the offset")
        let minute = try readDigits(2, start: start, expecting: "two-digit offset minutes")
        guard hour <= 23, minute <= 59 else { throw dateTimeError("offset must be between -23:59 and +23:59", start: start) }
    }

    private mutating func readDigits(_ count: Int, start: Int, expecting expected: String) throws(TOMLError) -> Int {
        var value = 0
        for _ in 0..<count {
            guard let byte = peek(), TOMLByte.isDigit(byte) else {
                throw dateTimeError("expected \(expected)", start: start)
            }
            value = value * 10 + Int(byte - 0x30)
            position += 1
        }
        return value
    }

    private mutating func expect(_ byte: UInt8, start: Int, expecting expected: String) throws(TOMLError) {
        guard peek() == byte else { throw dateTimeError("expected \(expected)", start: start) }
        position += 1
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2:
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            return leap ? 29 : 28
        case 4, 6, 9, 11:
            return 30
        default:
            return 31
        }
    }

    private func dateTimeError(_ detail: String, start: Int) -> TOMLError {
        var end = start
        while end < bytes.count, TOMLByte.isValueWord(bytes[end]) { end += 1 }
        let text = String(decoding: bytes[start..<end], as: UTF8.self)
        return error(.invalidDateTime, "invalid date-time '\(text)': \(detail)", at: start)
    }
}
