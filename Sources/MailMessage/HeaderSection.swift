/// The header section of a message: the fields before the first empty line
/// (RFC 5322 §2.1). Parsing is lenient — a malformed line never throws; it is
/// kept as a continuation or skipped, so hostile input cannot crash us.
public struct HeaderSection: Sendable, Equatable {
    public var fields: [HeaderField]

    public init(fields: [HeaderField] = []) {
        self.fields = fields
    }

    /// Parses the header lines in `bytes` (which may or may not include the
    /// terminating empty line; anything after it is ignored). CRLF or LF.
    public init<Bytes: Collection>(parsing bytes: Bytes) where Bytes.Element == UInt8 {
        // Called from other modules, where a generic loop runs unspecialised
        // (a witness call per octet): parse contiguous bytes instead (issue #15).
        self = bytes.withContiguousStorageIfAvailable(Self.init(contiguous:))
            ?? Array(bytes).withUnsafeBufferPointer(Self.init(contiguous:))
    }

    /// Line by line, not octet by octet (issue #15): each physical line is
    /// found with one search and its octets are taken as slices.
    private init(contiguous bytes: UnsafeBufferPointer<UInt8>) {
        var fields: [HeaderField] = []
        var start = 0
        while start < bytes.count {
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            let rawEnd = newline.map { $0 + 1 } ?? bytes.count
            // The line without its end: LF, and one CR before it (or before
            // the end of the input); any other CR stays in the line.
            var end = newline ?? bytes.count
            if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            if newline != nil && end == start { break } // empty line: end of the header section
            Self.add(line: UnsafeBufferPointer(rebasing: bytes[start..<end]),
                     raw: UnsafeBufferPointer(rebasing: bytes[start..<rawEnd]), to: &fields)
            start = rawEnd
        }
        self.fields = fields
    }

    private static func add(line: UnsafeBufferPointer<UInt8>, raw: UnsafeBufferPointer<UInt8>, to fields: inout [HeaderField]) {
        guard let first = line.first else { return }
        if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            // Continuation of the previous field (folded).
            guard let last = fields.last else { return }
            let value = last.rawValue + "\r\n" + String(decoding: line, as: UTF8.self)
            fields[fields.count - 1] = last.originalBytes.map {
                HeaderField(name: last.name, rawValue: value, original: $0 + raw)
            } ?? HeaderField(name: last.name, rawValue: value)
            return
        }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
              let nameStart = line[..<colon].firstIndex(where: { !isBlank($0) }),
              let nameEnd = line[..<colon].lastIndex(where: { !isBlank($0) }),
              !line[nameStart...nameEnd].contains(UInt8(ascii: " ")) else {
            // Not a field: its octets stay with the field before it.
            if !fields.isEmpty { fields[fields.count - 1].appendOriginal(Array(raw)) }
            return
        }
        let name = String(decoding: UnsafeBufferPointer(rebasing: line[nameStart...nameEnd]), as: UTF8.self)
        let value = String(decoding: UnsafeBufferPointer(rebasing: line[(colon + 1)...]), as: UTF8.self)
        fields.append(HeaderField(name: name, rawValue: value, original: Array(raw)))
    }

    public func first(_ name: String) -> HeaderField? {
        fields.first { $0.hasName(name) }
    }

    public func all(_ name: String) -> [HeaderField] {
        fields.filter { $0.hasName(name) }
    }

    public func contains(_ name: String) -> Bool {
        first(name) != nil
    }

    /// Where the header section ends in `bytes`: the index just past the empty
    /// line (CRLF CRLF or LF LF), or nil if the section is not complete yet.
    public static func endIndex(in bytes: some RandomAccessCollection<UInt8>) -> Int? {
        var index = bytes.startIndex
        var lineStart = true
        var offset = 0
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") {
                if lineStart { return offset + 1 }
                lineStart = true
            } else if byte == UInt8(ascii: "\r") {
                // CR does not end the line start; CRLF is handled by the LF.
            } else {
                lineStart = false
            }
            index = bytes.index(after: index)
            offset += 1
        }
        return nil
    }
}

extension HeaderSection {
    /// The length of the leading header lines in `bytes`: every line that is a
    /// field ("name:" with a printable name, RFC 5322 §2.2) or a folded
    /// continuation. Stops before the empty line or the first line that is
    /// not a header. Nil while the answer depends on bytes not yet seen.
    public static func headerBlockLength(in bytes: some RandomAccessCollection<UInt8>, isComplete: Bool) -> Int? {
        // As for parsing: the unspecialised generic loop is what costs.
        bytes.withContiguousStorageIfAvailable { blockLength(in: $0, isComplete: isComplete) }
            ?? blockLength(in: bytes, isComplete: isComplete)
    }

    private static func blockLength(in bytes: some RandomAccessCollection<UInt8>, isComplete: Bool) -> Int? {
        var offset = 0
        var index = bytes.startIndex
        var lineStart = 0
        var first = true
        while true {
            // Find the end of the line starting at `lineStart`.
            var lineEnd: Int?
            while index != bytes.endIndex {
                let byte = bytes[index]
                index = bytes.index(after: index)
                offset += 1
                if byte == UInt8(ascii: "\n") { lineEnd = offset; break }
            }
            guard let end = lineEnd else {
                // An unterminated last line: only judge it once the message is complete.
                if !isComplete { return nil }
                return lineStart == offset ? lineStart : (isHeaderLine(bytes, from: lineStart, to: offset, first: first) ? offset : lineStart)
            }
            if !isHeaderLine(bytes, from: lineStart, to: end, first: first) { return lineStart }
            first = false
            lineStart = end
        }
    }

    private static func isHeaderLine(_ bytes: some RandomAccessCollection<UInt8>, from: Int, to: Int, first: Bool) -> Bool {
        let start = bytes.index(bytes.startIndex, offsetBy: from)
        let end = bytes.index(bytes.startIndex, offsetBy: to)
        let line = bytes[start..<end]
        guard let firstByte = line.first, firstByte != UInt8(ascii: "\r"), firstByte != UInt8(ascii: "\n") else { return false }
        if firstByte == UInt8(ascii: " ") || firstByte == UInt8(ascii: "\t") { return !first }
        // field-name = 1*ftext; ftext = %d33-57 / %d59-126
        for byte in line {
            if byte == UInt8(ascii: ":") { return true }
            guard byte >= 33 && byte <= 126 else { return false }
        }
        return false
    }
}
