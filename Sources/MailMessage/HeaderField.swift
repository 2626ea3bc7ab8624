/// One header field of an RFC 5322 message (§2.2): a name and its value as
/// written, folding line breaks included, so that it can be re-emitted intact.
public struct HeaderField: Sendable, Equatable {
    public var name: String
    /// The value exactly as it appeared after the colon (folded lines kept).
    public var rawValue: String

    public init(name: String, rawValue: String) {
        self.name = name
        self.rawValue = rawValue
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
        name.utf8.count == other.utf8.count && name.lowercased() == other.lowercased()
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
