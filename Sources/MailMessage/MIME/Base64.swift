/// Base64 decoding for message bodies and encoded words (RFC 2045 §6.8),
/// lenient as RFC 2045 asks ("any characters outside of the base64
/// alphabet are to be ignored"): line breaks and garbage are skipped, the
/// URL-safe alphabet is accepted too, and "=" ends a quantum early so that
/// concatenated encodings still decode. Decoding never fails;
/// `sawGarbage` records input that a strict decoder would have refused.
public enum Base64 {
    /// Decodes a whole text at once.
    public static func decode(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        Decoder.decodeAll(bytes)
    }

    /// A streaming decoder: feed chunks split anywhere, then call `finish`.
    public struct Decoder: StreamingDecoder {
        /// Up to three sextets collected so far (24 bits at most).
        private var bits: UInt32 = 0
        private var sextets = 0
        public private(set) var sawGarbage = false

        public init() {}

        public mutating func decode(_ bytes: some Sequence<UInt8>, into out: inout [UInt8]) {
            let handled: Void? = bytes.withContiguousStorageIfAvailable { decode(buffer: $0, into: &out) }
            if handled == nil {
                Array(bytes).withUnsafeBufferPointer { decode(buffer: $0, into: &out) }
            }
        }

        /// The hot loop: output space is reserved up front and written
        /// through a pointer, since bodies can be tens of megabytes.
        private mutating func decode(buffer: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
            guard !buffer.isEmpty else { return }
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: (sextets + buffer.count) / 4 * 3 + 2))
            var written = start
            Self.table.withUnsafeBufferPointer { table in
                out.withUnsafeMutableBufferPointer { output in
                    for byte in buffer {
                        let value = table[Int(byte)]
                        guard value < 64 else {
                            if value == Self.padding {
                                written += flushPartialQuantum(into: output, at: written)
                            } else if value == Self.invalid {
                                sawGarbage = true
                            }
                            continue
                        }
                        bits = bits << 6 | UInt32(value)
                        sextets += 1
                        if sextets == 4 {
                            output[written] = UInt8(truncatingIfNeeded: bits >> 16)
                            output[written + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                            output[written + 2] = UInt8(truncatingIfNeeded: bits)
                            written += 3
                            bits = 0
                            sextets = 0
                        }
                    }
                }
            }
            out.removeSubrange(written...)
        }

        /// Ends the input, emitting the bytes of an unpadded final quantum.
        public mutating func finish(into out: inout [UInt8]) {
            var tail: [UInt8] = [0, 0]
            let count = tail.withUnsafeMutableBufferPointer { flushPartialQuantum(into: $0, at: 0) }
            out.append(contentsOf: tail[..<count])
        }

        /// Two sextets carry one byte, three carry two; a lone sextet
        /// carries nothing and is dropped as garbage. Returns bytes written.
        private mutating func flushPartialQuantum(into output: UnsafeMutableBufferPointer<UInt8>, at index: Int) -> Int {
            defer {
                bits = 0
                sextets = 0
            }
            switch sextets {
            case 2:
                output[index] = UInt8(truncatingIfNeeded: bits >> 4)
                return 1
            case 3:
                output[index] = UInt8(truncatingIfNeeded: bits >> 10)
                output[index + 1] = UInt8(truncatingIfNeeded: bits >> 2)
                return 2
            case 1:
                sawGarbage = true
                return 0
            default:
                return 0
            }
        }

        private static let invalid: UInt8 = 0xFF
        private static let padding: UInt8 = 0xFE
        private static let whitespace: UInt8 = 0xFD

        /// Byte to sextet (the standard and URL-safe alphabets), or a marker.
        private static let table: [UInt8] = (0...255).map { byte in
            let byte = UInt8(byte)
            if let value = value(of: byte) { return value }
            switch byte {
            case UInt8(ascii: "="): return padding
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"): return whitespace
            default: return invalid
            }
        }

        static func value(of byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"), UInt8(ascii: "-"): return 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): return 63
            default: return nil
            }
        }
    }
}
