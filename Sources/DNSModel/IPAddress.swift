/// An IPv4 address. Text form is the dotted quad with no leading zeros, which is also
/// the only form SPF's `ip4-network` accepts
/// ([RFC 7208 §5.6](https://www.rfc-editor.org/rfc/rfc7208#section-5.6)).
public struct IPv4Address: Sendable, Hashable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses `a.b.c.d`; each part is 0–255 in decimal without leading zeros.
    /// One pass, no arrays, and inlinable so that callers in other modules
    /// get it specialized: every session and every delivery parses one
    /// (issue #15).
    @inlinable
    public init?(_ text: some StringProtocol) {
        var value: UInt32 = 0, part: UInt32 = 0, digits = 0, dots = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | part
                part = 0
                digits = 0
                dots += 1
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                guard digits == 0 || part != 0 else { return nil } // a leading zero
                part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard part <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        self.value = value << 8 | part
    }

    /// The four octets, most significant first.
    public var octets: [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }

    public var description: String { octets.map(String.init).joined(separator: ".") }

    /// The name to query for PTR records (`4.3.2.1.in-addr.arpa`).
    public var reverseName: String { octets.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa" }

    /// True when the first `prefixLength` bits equal those of `network`.
    public func isInNetwork(_ network: IPv4Address, prefixLength: Int) -> Bool {
        guard prefixLength > 0 else { return true }
        let mask: UInt32 = prefixLength >= 32 ? .max : ~(UInt32.max >> UInt32(prefixLength))
        return value & mask == network.value & mask
    }

}

/// An IPv6 address as two 64-bit halves. Parses the text forms of
/// [RFC 4291 §2.2](https://www.rfc-editor.org/rfc/rfc4291#section-2.2) and prints the
/// canonical form of [RFC 5952](https://www.rfc-editor.org/rfc/rfc5952).
public struct IPv6Address: Sendable, Hashable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Builds an address from its eight 16-bit groups.
    public init(groups: [UInt16]) {
        precondition(groups.count == 8, "an IPv6 address has eight groups")
        high = groups[0..<4].reduce(0) { $0 << 16 | UInt64($1) }
        low = groups[4..<8].reduce(0) { $0 << 16 | UInt64($1) }
    }

    public init?(_ text: some StringProtocol) {
        guard let groups = IPv6TextParser.parse(Array(text.utf8)) else { return nil }
        self.init(groups: groups)
    }

    public var groups: [UInt16] {
        [48, 32, 16, 0].map { UInt16(truncatingIfNeeded: high >> $0) }
            + [48, 32, 16, 0].map { UInt16(truncatingIfNeeded: low >> $0) }
    }

    /// The 32 nibbles, most significant first.
    public var nibbles: [UInt8] {
        (0..<16).map { UInt8(truncatingIfNeeded: high >> UInt64(60 - 4 * $0)) & 0xF }
            + (0..<16).map { UInt8(truncatingIfNeeded: low >> UInt64(60 - 4 * $0)) & 0xF }
    }

    /// The IPv4 address inside an IPv4-mapped address (`::ffff:a.b.c.d`), if this is one.
    public var ipv4Mapped: IPv4Address? {
        guard high == 0, low >> 32 == 0xFFFF else { return nil }
        return IPv4Address(UInt32(truncatingIfNeeded: low))
    }

    /// The RFC 5952 form: lower case, the longest run (two or more) of zero groups as `::`.
    public var description: String {
        let groups = self.groups
        var bestStart = -1, bestLength = 0, runStart = -1
        for index in 0...8 {
            if index < 8 && groups[index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                if index - runStart > bestLength { bestStart = runStart; bestLength = index - runStart }
                runStart = -1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestLength >= 2 else { return hex.joined(separator: ":") }
        let head = hex[..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }

    /// The name to query for PTR records (nibbles reversed, under `ip6.arpa`).
    public var reverseName: String {
        nibbles.reversed().map { String($0, radix: 16) }.joined(separator: ".") + ".ip6.arpa"
    }

    /// True when the first `prefixLength` bits equal those of `network`.
    public func isInNetwork(_ network: IPv6Address, prefixLength: Int) -> Bool {
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? .max : ~(UInt64.max >> UInt64(bits)) }
        let highMask = mask(prefixLength), lowMask = mask(prefixLength - 64)
        return high & highMask == network.high & highMask && low & lowMask == network.low & lowMask
    }
}

/// An address of either family.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses an IPv4 dotted quad or any RFC 4291 IPv6 text form.
    @inlinable
    public init?(_ text: some StringProtocol) {
        if let v4 = IPv4Address(text) {
            self = .v4(v4)
        } else if let v6 = IPv6Address(text) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    /// An IPv4-mapped IPv6 address becomes the IPv4 address it carries
    /// ([RFC 7208 §5](https://www.rfc-editor.org/rfc/rfc7208#section-5) treats it as IPv4).
    public var unmapped: IPAddress {
        if case .v6(let v6) = self, let v4 = v6.ipv4Mapped { return .v4(v4) }
        return self
    }

    public var description: String {
        switch self {
        case .v4(let address): return address.description
        case .v6(let address): return address.description
        }
    }

    /// The name to query for PTR records.
    public var reverseName: String {
        switch self {
        case .v4(let address): return address.reverseName
        case .v6(let address): return address.reverseName
        }
    }
}

/// Parser for RFC 4291 §2.2 text: up to eight groups of one to four hex digits, one
/// `::` at most, optionally ending in a dotted quad that stands for the last two groups.
private enum IPv6TextParser {
    static func parse(_ bytes: [UInt8]) -> [UInt16]? {
        let colon = UInt8(ascii: ":")
        guard bytes.count >= 2 else { return nil }
        var head: [UInt16] = [], tail: [UInt16] = []
        var sawDoubleColon = false
        var index = 0
        if bytes.starts(with: [colon, colon]) {
            sawDoubleColon = true
            index = 2
            if index == bytes.count { return [UInt16](repeating: 0, count: 8) }
        } else if bytes.first == colon {
            return nil
        }
        while index < bytes.count {
            var end = index
            while end < bytes.count && bytes[end] != colon { end += 1 }
            let piece = bytes[index..<end]
            if piece.contains(UInt8(ascii: ".")) {
                // A dotted quad may only come last.
                guard end == bytes.count, let v4 = IPv4Address(String(decoding: piece, as: UTF8.self)) else { return nil }
                let groups = [UInt16(truncatingIfNeeded: v4.value >> 16), UInt16(truncatingIfNeeded: v4.value)]
                if sawDoubleColon { tail += groups } else { head += groups }
                index = end
                break
            }
            guard (1...4).contains(piece.count), let group = UInt16(String(decoding: piece, as: UTF8.self), radix: 16) else {
                return nil
            }
            if sawDoubleColon { tail.append(group) } else { head.append(group) }
            index = end
            if index == bytes.count { break }
            // At a colon: a second one right after it is the `::`.
            index += 1
            if index < bytes.count && bytes[index] == colon {
                guard !sawDoubleColon else { return nil }
                sawDoubleColon = true
                index += 1
            } else if index == bytes.count {
                return nil  // trailing single colon
            }
        }
        let count = head.count + tail.count
        if sawDoubleColon {
            guard count <= 7 else { return nil }
            return head + [UInt16](repeating: 0, count: 8 - count) + tail
        }
        return count == 8 ? head : nil
    }
}
