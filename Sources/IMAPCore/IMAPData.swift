/// Server response data read back (RFC 3501 §4: NIL, numbers, strings,
/// parenthesized lists), to check that what the encoders write is
/// well-formed and to compare structures whatever the choice between a
/// quoted string and a literal. Used by the tests and the fuzz target.
public indirect enum IMAPData: Hashable, Sendable, CustomStringConvertible {
    case nilValue
    case number(UInt64)
    case string([UInt8])
    case list([IMAPData])

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public var offset: Int
        public var description: String { "malformed IMAP data at offset \(offset)" }
    }

    /// Lists nested deeper than this are refused (the reader recurses).
    public static let maxDepth = 200

    /// Reads exactly one value from `bytes`; anything left over is malformed.
    public static func read(_ bytes: [UInt8]) throws(Malformed) -> IMAPData {
        var reader = Reader(bytes: bytes)
        let value = try reader.value(depth: 0)
        guard reader.index == bytes.count else { throw Malformed(offset: reader.index) }
        return value
    }

    public var description: String {
        switch self {
        case .nilValue: "NIL"
        case .number(let value): "\(value)"
        case .string(let bytes): String(decoding: IMAPWire.string(bytes), as: UTF8.self)
        case .list(let items): "(\(items.map(\.description).joined(separator: " ")))"
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func value(depth: Int) throws(Malformed) -> IMAPData {
            guard index < bytes.count, depth <= IMAPData.maxDepth else { throw Malformed(offset: index) }
            switch bytes[index] {
            case UInt8(ascii: "("): return try list(depth: depth)
            case UInt8(ascii: "\""): return try quoted()
            case UInt8(ascii: "{"): return try literal()
            default:
                let start = index
                while index < bytes.count, IMAPCharacters.isAtomChar(bytes[index]) { index += 1 }
                let atom = bytes[start..<index]
                if atom.elementsEqual("NIL".utf8) { return .nilValue }
                guard let number = IMAPCharacters.number(atom, max: UInt64(UInt32.max)) else { throw Malformed(offset: start) }
                return .number(number)
            }
        }

        /// "(" [value *(SP value)] ")"; a list may follow a list without SP
        /// (body-type-mpart = 1*body SP media-subtype).
        mutating func list(depth: Int) throws(Malformed) -> IMAPData {
            index += 1
            var items: [IMAPData] = []
            while index < bytes.count, bytes[index] != UInt8(ascii: ")") {
                if !items.isEmpty {
                    if bytes[index] == UInt8(ascii: " ") {
                        index += 1
                    } else if bytes[index] != UInt8(ascii: "(") || items.last.map({ if case .list = $0 { false } else { true } }) ?? true {
                        throw Malformed(offset: index)
                    }
                }
                items.append(try value(depth: depth + 1))
            }
            guard index < bytes.count else { throw Malformed(offset: index) }
            index += 1
            return .list(items)
        }

        /// quoted = DQUOTE *QUOTED-CHAR DQUOTE
        mutating func quoted() throws(Malformed) -> IMAPData {
            index += 1
            var out: [UInt8] = []
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                if bytes[index] == UInt8(ascii: "\\") {
                    index += 1
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "\\") else {
                        throw Malformed(offset: index)
                    }
                }
                guard IMAPWire.isQuotable(bytes[index]) else { throw Malformed(offset: index) }
                out.append(bytes[index])
                index += 1
            }
            guard index < bytes.count else { throw Malformed(offset: index) }
            index += 1
            return .string(out)
        }

        /// literal = "{" number "}" CRLF *CHAR8
        mutating func literal() throws(Malformed) -> IMAPData {
            let start = index
            index += 1
            let digits = bytes[index...].prefix(while: IMAPCharacters.isDigit)
            index += digits.count
            guard let count = IMAPCharacters.number(digits, max: UInt64(UInt32.max)),
                  bytes[index...].starts(with: "}\r\n".utf8), bytes.count - index - 3 >= Int(count) else {
                throw Malformed(offset: start)
            }
            index += 3
            let octets = Array(bytes[index..<(index + Int(count))])
            guard !octets.contains(0) else { throw Malformed(offset: index) }
            index += Int(count)
            return .string(octets)
        }
    }
}
