/// Integers and floats (TOML v1.0 "Integer" and "Float"). The whole word is
/// read first, so `12ab` is one bad number rather than `12` followed by
/// trailing characters.
extension TOMLParser {
    /// integer = dec-int / hex-int / oct-int / bin-int
    /// float = float-int-part ( exp / frac [ exp ] ) / special-float
    mutating func parseNumber() throws(TOMLError) -> TOMLValue {
        let start = position
        while let byte = peek(), TOMLByte.isValueWord(byte) { position += 1 }
        let sign = bytes[start]
        let hasSign = sign == TOMLByte.plus || sign == TOMLByte.minus
        let negative = sign == TOMLByte.minus
        let digitsStart = hasSign ? start + 1 : start
        let unsigned = bytes[digitsStart..<position]
        // special-float = [ minus / plus ] ( inf / nan )
        if let first = unsigned.first, TOMLByte.isLetter(first) {
            if unsigned.elementsEqual("inf".utf8) { return .float(negative ? -.infinity : .infinity) }
            if unsigned.elementsEqual("nan".utf8) { return .float(negative ? -.nan : .nan) }
        }
        if unsigned.count >= 2, unsigned.first == UInt8(ascii: "0"), let radix = Self.radix(prefix: bytes[digitsStart + 1]) {
            guard !hasSign else {
                throw error(.invalidNumber, "invalid number '\(numberText(from: start))': a sign is not allowed before a hexadecimal, octal or binary integer", at: start)
            }
            return .integer(try parseRadixInteger(radix, start: start))
        }
        return try parseDecimal(start: start, digitsStart: digitsStart, negative: negative)
    }

    /// hex-prefix = "0x", oct-prefix = "0o", bin-prefix = "0b" (lower case only).
    private static func radix(prefix: UInt8) -> Int? {
        switch prefix {
        case UInt8(ascii: "x"): 16
        case UInt8(ascii: "o"): 8
        case UInt8(ascii: "b"): 2
        default: nil
        }
    }

    /// hex-int = hex-prefix HEXDIG *( HEXDIG / underscore HEXDIG ), and
    /// likewise for octal and binary. Leading zeros are allowed here.
    private func parseRadixInteger(_ radix: Int, start: Int) throws(TOMLError) -> Int64 {
        let isDigit: (UInt8) -> Bool = switch radix {
        case 16: TOMLByte.isHexDigit
        case 8: { $0 >= 0x30 && $0 <= 0x37 }
        default: { $0 == 0x30 || $0 == 0x31 }
        }
        let digitsStart = start + 2
        guard digitsStart < position, isDigit(bytes[digitsStart]) else {
            throw error(.invalidNumber, "invalid number '\(numberText(from: start))': expected base-\(radix) digits after the prefix", at: start)
        }
        let digitsEnd = try scanDigits(from: digitsStart, numberStart: start, isDigit: isDigit)
        guard digitsEnd == position else {
            throw error(.invalidNumber, "invalid base-\(radix) integer '\(numberText(from: start))'", at: start)
        }
        var value: Int64 = 0
        for byte in bytes[digitsStart..<digitsEnd] where byte != TOMLByte.underscore {
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: Int64(radix))
            let (sum, overflowB) = shifted.addingReportingOverflow(Int64(TOMLByte.digitValue(byte)))
            guard !overflowA, !overflowB else { throw outOfRange(start) }
            value = sum
        }
        return value
    }

    /// dec-int = [ minus / plus ] unsigned-dec-int
    /// unsigned-dec-int = DIGIT / digit1-9 1*( DIGIT / underscore DIGIT )
    /// frac = "." zero-prefixable-int; exp = "e" [ minus / plus ] zero-prefixable-int
    private func parseDecimal(start: Int, digitsStart: Int, negative: Bool) throws(TOMLError) -> TOMLValue {
        let text = numberText(from: start)
        guard digitsStart < position, TOMLByte.isDigit(bytes[digitsStart]) else {
            throw error(.invalidNumber, "invalid number '\(text)'", at: start)
        }
        if bytes[digitsStart] == UInt8(ascii: "0"), digitsStart + 1 < position,
           TOMLByte.isDigit(bytes[digitsStart + 1]) || bytes[digitsStart + 1] == TOMLByte.underscore {
            throw error(.leadingZero, "invalid number '\(text)': leading zeros are not allowed", at: start)
        }
        var index = try scanDigits(from: digitsStart, numberStart: start, isDigit: TOMLByte.isDigit)
        let integerEnd = index
        if index < position, bytes[index] == TOMLByte.dot {
            index += 1
            guard index < position, TOMLByte.isDigit(bytes[index]) else {
                throw error(.invalidNumber, "invalid number '\(text)': a decimal point must have digits on both sides", at: start)
            }
            index = try scanDigits(from: index, numberStart: start, isDigit: TOMLByte.isDigit)
        }
        if index < position, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < position, bytes[index] == TOMLByte.plus || bytes[index] == TOMLByte.minus { index += 1 }
            guard index < position, TOMLByte.isDigit(bytes[index]) else {
                throw error(.invalidNumber, "invalid number '\(text)': an exponent needs digits", at: start)
            }
            index = try scanDigits(from: index, numberStart: start, isDigit: TOMLByte.isDigit)
        }
        guard index == position else {
            throw error(.invalidNumber, "invalid number '\(text)'", at: start)
        }
        if integerEnd < position {
            let cleaned = String(decoding: bytes[start..<position].filter { $0 != TOMLByte.underscore }, as: UTF8.self)
            guard let value = Double(cleaned), value.isFinite else {
                throw error(.invalidNumber, "float '\(text)' is out of range", at: start)
            }
            return .float(value)
        }
        var value: Int64 = 0
        for byte in bytes[digitsStart..<position] where byte != TOMLByte.underscore {
            let digit = Int64(byte - 0x30)
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflowA, !overflowB else { throw outOfRange(start) }
            value = sum
        }
        return .integer(value)
    }

    /// DIGIT *( DIGIT / underscore DIGIT ), starting at a digit; returns the
    /// index just past the run.
    private func scanDigits(from first: Int, numberStart: Int, isDigit: (UInt8) -> Bool) throws(TOMLError) -> Int {
        var index = first + 1
        while index < position {
            let byte = bytes[index]
            if isDigit(byte) {
                index += 1
            } else if byte == TOMLByte.underscore {
                guard index + 1 < position, isDigit(bytes[index + 1]) else {
                    throw error(.invalidNumber, "invalid number '\(numberText(from: numberStart))': each underscore must sit between two digits", at: numberStart)
                }
                index += 2
            } else {
                break
            }
        }
        return index
    }

    private func numberText(from start: Int) -> String {
        String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private func outOfRange(_ start: Int) -> TOMLError {
        error(.invalidNumber, "integer '\(numberText(from: start))' does not fit in 64 bits", at: start)
    }
}
