/// seq-number = nz-number / "*" (RFC 3501 §9); "*" is the largest number in use.
public enum SequenceNumber: Hashable, Sendable {
    case number(UInt32)
    case last
}

/// seq-range = seq-number ":" seq-number; a single number is a range of one.
/// The ends are kept as sent: "4:2" and "2:4" are the same set (§9).
public struct SequenceRange: Hashable, Sendable {
    public var first: SequenceNumber
    public var second: SequenceNumber

    public init(_ first: SequenceNumber, _ second: SequenceNumber) {
        self.first = first
        self.second = second
    }

    public init(_ single: SequenceNumber) { self.init(single, single) }
}

/// sequence-set = (seq-number / seq-range) *("," sequence-set)
public struct SequenceSet: Hashable, Sendable {
    public var ranges: [SequenceRange]

    public init(_ ranges: [SequenceRange]) { self.ranges = ranges }

    /// Whether `number` is in the set when "*" stands for `largest` (the
    /// highest sequence number or UID in use, RFC 3501 §9). "*" in an empty
    /// mailbox (largest 0) matches nothing.
    public func contains(_ number: UInt32, largest: UInt32) -> Bool {
        ranges.contains { $0.contains(number, largest: largest) }
    }
}

extension SequenceRange {
    /// Whether `number` lies between the ends, in either order, "*" being `largest`.
    public func contains(_ number: UInt32, largest: UInt32) -> Bool {
        func value(_ end: SequenceNumber) -> UInt32 {
            switch end {
            case .number(let value): value
            case .last: largest
            }
        }
        let (a, b) = (value(first), value(second))
        return number != 0 && min(a, b) <= number && number <= max(a, b)
    }
}

extension IMAPInput {
    /// sequence-set; its length is bounded by the line, not by `maxListItems`,
    /// because clients (mbsync) send long UID lists.
    mutating func sequenceSet() throws(Failure) -> SequenceSet {
        var ranges: [SequenceRange] = []
        repeat {
            let first = try sequenceNumber()
            if skip(UInt8(ascii: ":")) {
                ranges.append(SequenceRange(first, try sequenceNumber()))
            } else {
                ranges.append(SequenceRange(first))
            }
        } while skip(UInt8(ascii: ","))
        return SequenceSet(ranges)
    }

    /// seq-number = nz-number / "*"
    mutating func sequenceNumber() throws(Failure) -> SequenceNumber {
        if skip(UInt8(ascii: "*")) { return .last }
        guard let byte = peek, IMAPCharacters.isDigit(byte) else { throw .expected("sequence set") }
        return .number(try nonZeroNumber())
    }
}
