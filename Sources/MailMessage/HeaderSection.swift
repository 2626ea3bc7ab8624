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

    private init(contiguous bytes: UnsafeBufferPointer<UInt8>) {
        var fields: [HeaderField] = []
        var line: [UInt8] = []
        // The physical line as it arrived, line end included.
        var rawLine: [UInt8] = []
        func flush() {
            defer {
                line.removeAll(keepingCapacity: true)
                rawLine.removeAll(keepingCapacity: true)
            }
            guard !line.isEmpty else { return }
            if line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t") {
                // Continuation of the previous field (folded).
                guard !fields.isEmpty else { return }
                let last = fields[fields.count - 1]
                let value = last.rawValue + "\r\n" + String(decoding: line, as: UTF8.self)
                fields[fields.count - 1] = last.originalBytes.map {
                    HeaderField(name: last.name, rawValue: value, original: $0 + rawLine)
                } ?? HeaderField(name: last.name, rawValue: value)
                return
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
                  case let name = String(decoding: line[..<colon], as: UTF8.self).trimmingWhitespace(),
                  !name.isEmpty, !name.contains(" ") else {
                // Not a field: its octets stay with the field before it.
                if !fields.isEmpty { fields[fields.count - 1].appendOriginal(rawLine) }
                return
            }
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self)
            fields.append(HeaderField(name: name, rawValue: value, original: rawLine))
        }
        var previousWasCR = false
        for byte in bytes {
            rawLine.append(byte)
            if byte == UInt8(ascii: "\n") {
                if line.isEmpty { break } // empty line: end of the header section
                flush()
                previousWasCR = false
                continue
            }
            if previousWasCR { line.append(UInt8(ascii: "\r")) }
            previousWasCR = byte == UInt8(ascii: "\r")
            if !previousWasCR { line.append(byte) }
        }
        flush()
        self.fields = fields
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
