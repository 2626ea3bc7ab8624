/// xtext (RFC 3461 §4): how ENVID, ORCPT and AUTH= carry arbitrary octets
/// in an ESMTP parameter value. Octets "!" to "~" stand for themselves,
/// except "+" and "="; every other octet is "+" and two hex digits.
///
///     xtext   = *( xchar / hexchar )
///     xchar   = %d33-42 / %d44-60 / %d62-126
///     hexchar = "+" 2HEXDIG
public enum XText {
    public enum DecodeError: Error, Sendable, Hashable {
        /// An octet that may not appear in xtext (space, "=", controls, non-ASCII).
        case invalidCharacter(UInt8)
        /// "+" not followed by two hex digits.
        case badHexEscape
    }

    /// Whether `byte` stands for itself in xtext.
    static func isXChar(_ byte: UInt8) -> Bool {
        (33...126).contains(byte) && byte != UInt8(ascii: "+") && byte != UInt8(ascii: "=")
    }

    /// The xtext form of `text`'s UTF-8 octets; hex digits upper-case, as
    /// RFC 3461 §4 requires of an encoder.
    public static func encode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isXChar(byte) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "+"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The octets `xtext` stands for. Lower-case hex digits are accepted
    /// too (some clients send them; nothing else could be meant).
    public static func decode(_ xtext: some StringProtocol) throws(DecodeError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(xtext.utf8.count)
        var iterator = xtext.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw .badHexEscape
                }
                out.append(high << 4 | low)
            } else {
                guard isXChar(byte) else { throw .invalidCharacter(byte) }
                out.append(byte)
            }
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
