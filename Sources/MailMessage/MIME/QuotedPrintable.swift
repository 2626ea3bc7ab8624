/// Quoted-printable decoding (RFC 2045 §6.7), lenient in the ways real mail
/// needs: lowercase hex is accepted, an "=" that starts no valid escape is
/// kept as it is, white space between "=" and the line break still makes a
/// soft break, and trailing white space on a line is dropped (rule 3).
/// Decoding never fails; `sawInvalidEscape` records that something was odd.
public enum QuotedPrintable {
    /// Decodes a whole body at once.
    public static func decode(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        Decoder.decodeAll(bytes)
    }

    /// A streaming decoder: feed chunks split anywhere, then call `finish`.
    /// It holds at most a few bytes of state plus pending trailing white space.
    public struct Decoder: StreamingDecoder {
        private enum State: Sendable {
            case text
            /// Seen "=".
            case equals
            /// Seen "=" and one hex digit.
            case equalsHex(UInt8)
            /// Seen "=" then white space: a soft break if a line break follows.
            case equalsSpace
        }

        private var state = State.text
        /// White space not yet known to be trailing (so not yet emitted).
        private var whitespace: [UInt8] = []
        /// White space (and CR) seen after an "=", kept in case no line break follows.
        private var afterEquals: [UInt8] = []
        /// An "=" was followed by something that is neither hex nor a line break.
        public private(set) var sawInvalidEscape = false

        /// Pending white space beyond this is emitted rather than held.
        private static let maxPendingWhitespace = 1024

        public init() {}

        public mutating func decode(_ bytes: some Sequence<UInt8>, into out: inout [UInt8]) {
            for byte in bytes {
                consume(byte, into: &out)
            }
        }

        /// Ends the input: a dangling "=" is a soft break at the end,
        /// "=X" is kept literally, trailing white space is dropped.
        public mutating func finish(into out: inout [UInt8]) {
            if case .equalsHex(let digit) = state {
                sawInvalidEscape = true
                flushWhitespace(into: &out)
                out.append(UInt8(ascii: "="))
                out.append(digit)
            }
            state = .text
            whitespace.removeAll()
            afterEquals.removeAll()
        }

        private mutating func consume(_ byte: UInt8, into out: inout [UInt8]) {
            switch state {
            case .text:
                consumeText(byte, into: &out)
            case .equals:
                if Self.hexValue(byte) != nil {
                    state = .equalsHex(byte)
                } else if byte == UInt8(ascii: "\n") {
                    state = .text
                } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                    state = .equalsSpace
                    afterEquals.append(byte)
                } else {
                    sawInvalidEscape = true
                    state = .text
                    flushWhitespace(into: &out)
                    out.append(UInt8(ascii: "="))
                    consumeText(byte, into: &out)
                }
            case .equalsHex(let first):
                state = .text
                if let high = Self.hexValue(first), let low = Self.hexValue(byte) {
                    flushWhitespace(into: &out)
                    out.append(high << 4 | low)
                } else {
                    sawInvalidEscape = true
                    flushWhitespace(into: &out)
                    out.append(UInt8(ascii: "="))
                    out.append(first)
                    consumeText(byte, into: &out)
                }
            case .equalsSpace:
                // "=" [WSP...] [CR] LF is a soft line break; otherwise the
                // "=" and what followed it are kept as they were.
                if byte == UInt8(ascii: "\n") {
                    state = .text
                    afterEquals.removeAll(keepingCapacity: true)
                } else if (byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r"))
                            && afterEquals.count < Self.maxPendingWhitespace {
                    afterEquals.append(byte)
                } else {
                    sawInvalidEscape = true
                    state = .text
                    flushWhitespace(into: &out)
                    out.append(UInt8(ascii: "="))
                    let kept = afterEquals
                    afterEquals.removeAll(keepingCapacity: true)
                    for pending in kept { consumeText(pending, into: &out) }
                    consumeText(byte, into: &out)
                }
            }
        }

        private mutating func consumeText(_ byte: UInt8, into out: inout [UInt8]) {
            switch byte {
            case UInt8(ascii: "="):
                state = .equals
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                whitespace.append(byte)
                if whitespace.count > Self.maxPendingWhitespace {
                    flushWhitespace(into: &out)
                }
            case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                whitespace.removeAll(keepingCapacity: true) // trailing: transport padding
                out.append(byte)
            default:
                flushWhitespace(into: &out)
                out.append(byte)
            }
        }

        private mutating func flushWhitespace(into out: inout [UInt8]) {
            guard !whitespace.isEmpty else { return }
            out.append(contentsOf: whitespace)
            whitespace.removeAll(keepingCapacity: true)
        }

        static func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
    }
}
