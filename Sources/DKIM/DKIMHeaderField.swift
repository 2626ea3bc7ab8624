/// One header field as octets, exactly as it will be sent: what DKIM signs
/// ([RFC 6376 §3.4.1](https://www.rfc-editor.org/rfc/rfc6376#section-3.4.1)
/// needs the field "without any changes"), so it is never decoded to text.
public struct DKIMHeaderField: Sendable, Hashable {
    /// The whole field: name, colon, value with its folding, ending CRLF.
    public var bytes: [UInt8]
    /// The name lowercased, for the case-insensitive match of h= (§5.4.2).
    public var lowercasedName: String
    /// Where the colon is in `bytes`.
    let colon: Int

    /// `bytes` must hold a name and a colon; a missing final CRLF is added.
    public init?(bytes: [UInt8]) {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return nil }
        var bytes = bytes
        if !bytes.ends(with: [0x0D, 0x0A]) { bytes += [0x0D, 0x0A] }
        self.bytes = bytes
        self.colon = colon
        let name = bytes[..<colon].filter { $0 != 0x20 && $0 != 0x09 }
        lowercasedName = String(decoding: name, as: UTF8.self).lowercased()
    }

    /// The value: the octets after the colon, before the final CRLF.
    public var value: ArraySlice<UInt8> {
        bytes[(colon + 1)..<(bytes.count - 2)]
    }

    /// Splits a header section (CRLF line ends, with or without its empty
    /// line) into fields. A line that starts with white space continues the
    /// field before it; a line without a colon is kept with the field before
    /// it, as HeaderSection does, so every octet stays where it was.
    public static func fields(in section: some Collection<UInt8>) -> [DKIMHeaderField] {
        var fields: [[UInt8]] = []
        var line: [UInt8] = []
        func finish() {
            defer { line.removeAll(keepingCapacity: true) }
            guard !line.isEmpty, line != [0x0D, 0x0A] else { return }
            let continues = line[0] == 0x20 || line[0] == 0x09 || !line.contains(UInt8(ascii: ":"))
            if continues, !fields.isEmpty {
                fields[fields.count - 1] += line
            } else {
                fields.append(line)
            }
        }
        for byte in section {
            line.append(byte)
            if byte == 0x0A {
                if line == [0x0D, 0x0A] || line == [0x0A] { break }
                finish()
            }
        }
        finish()
        return fields.compactMap { DKIMHeaderField(bytes: $0) }
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
