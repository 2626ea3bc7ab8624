/// One header field of an RFC 5322 message (§2.2): a name and its value as
/// written, folding line breaks included, so that it can be re-emitted intact.
public struct HeaderField: Sendable, Equatable {
    public var name: String
    /// The value exactly as it appeared after the colon (folded lines kept).
    public var rawValue: String
    /// The octets the field arrived as, line ends included: what the parser
    /// saw before decoding text, so an untouched field is written back
    /// exactly, even bytes that are not UTF-8.
    var original: [UInt8]?
    /// `name` and `rawValue` when `original` was read, to tell whether the
    /// field has been changed since.
    private var parsed: (name: String, rawValue: String)?

    public init(name: String, rawValue: String) {
        self.name = name
        self.rawValue = rawValue
    }

    init(name: String, rawValue: String, original: [UInt8]) {
        self.init(name: name, rawValue: rawValue)
        self.original = original
        parsed = (name, rawValue)
    }

    /// The field's octets as they arrived, while it is unchanged.
    public var originalBytes: [UInt8]? {
        guard let original, let parsed, parsed.name == name, parsed.rawValue == rawValue else { return nil }
        return original
    }

    /// The field as written on the wire: the original octets when
    /// unchanged, else `Name:rawValue`, ending in CRLF.
    public var wireBytes: [UInt8] {
        guard var bytes = originalBytes else { return Array("\(name):\(rawValue)\r\n".utf8) }
        // Input that ended right after a CR: the parser read that CR as the
        // start of the line end, not as text, so only the LF is missing.
        if bytes.last == UInt8(ascii: "\r") {
            bytes.append(UInt8(ascii: "\n"))
        } else if bytes.last != UInt8(ascii: "\n") {
            bytes += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        }
        return bytes
    }

    /// Fields are equal by name and value; where they came from is not compared.
    public static func == (lhs: HeaderField, rhs: HeaderField) -> Bool {
        lhs.name == rhs.name && lhs.rawValue == rhs.rawValue
    }

    /// Bytes of a line that is not a field (no colon), kept with the field
    /// before it so that writing the section back does not lose them.
    mutating func appendOriginal(_ bytes: [UInt8]) {
        guard original != nil else { return }
        original! += bytes
    }

    /// The value unfolded (RFC 5322 §2.2.3: CRLF followed by WSP is removed)
    /// with surrounding white space trimmed.
    public var value: String {
        var out = ""
        out.reserveCapacity(rawValue.utf8.count)
        var iterator = rawValue.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            if scalar == "\r" || scalar == "\n" { continue }
            out.unicodeScalars.append(scalar)
        }
        return out.trimmingWhitespace()
    }

    /// Case-insensitive name comparison (RFC 5322 §1.2.2).
    public func hasName(_ other: String) -> Bool {
        // Field names are ASCII (RFC 5322 §3.6.8): folding ASCII letters is
        // enough, and needs no lowercased copies.
        name.utf8.count == other.utf8.count && name.utf8.elementsEqual(other.utf8) { a, b in
            a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z"))
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return String(scalars[first...last])
    }
}

extension HeaderField {
    /// A field we write from text that came from outside (an address, a
    /// scanner's verdict), CRLF-terminated: control characters become
    /// spaces, so the text can never start a field of its own or end the
    /// header section; folded at spaces (RFC 5322 §2.2.3) unless `fold` is
    /// false (an address that must read back exactly, shorter than a line).
    public static func line(name: String, value: String, fold: Bool = true) -> String {
        let text = "\(name): \(DSNFormat.oneLine(value))"
        return (fold ? DSNFormat.fold(text) : text) + "\r\n"
    }

    /// `value` as a folded `line(name:value:)` field reads back unfolded:
    /// controls as spaces, runs of spaces as one (but for a word longer than
    /// a line, which folding splits).
    public static func foldedValue(_ value: String) -> String {
        DSNFormat.oneLine(value).split(separator: " ").joined(separator: " ")
    }
}
