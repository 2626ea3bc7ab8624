/// One TOML value (TOML v1.0, https://toml.io/en/v1.0.0).
///
/// Date-times, dates and times keep the exact text written in the file:
/// Postern only compares or echoes them, and the text is what a user wants
/// to see in a diagnostic. Equality of `.float(.nan)` follows IEEE 754, so a
/// NaN is never equal to itself.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    /// Offset or local date-time, local date or local time, as written.
    case datetime(String)
    case array([TOMLValue])
    case table(TOMLTable)

    /// The TOML name of this value's type, for messages such as
    /// "expected an integer, found a string".
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .datetime: "date-time"
        case .array: "array"
        case .table: "table"
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// Only `.float`; see `doubleValue` to accept integers too.
    public var floatValue: Double? {
        if case .float(let value) = self { return value }
        return nil
    }

    /// A float, or an integer widened to `Double` (a timeout may be written
    /// `30` or `30.5`).
    public var doubleValue: Double? {
        switch self {
        case .float(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }

    public var boolValue: Bool? {
        if case .boolean(let value) = self { return value }
        return nil
    }

    /// The literal text of a date-time, date or time.
    public var datetimeText: String? {
        if case .datetime(let value) = self { return value }
        return nil
    }

    public var arrayValue: [TOMLValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var tableValue: TOMLTable? {
        if case .table(let value) = self { return value }
        return nil
    }
}

/// A TOML table that remembers where each key was written.
///
/// Entries keep file order. Each records the 1-based line of its key; for a
/// table defined by a `[header]`, or an element of an `[[array]]`, the header's
/// line is in `headerLine`. `postern config check` uses these to point at the
/// exact line of a mistake.
public struct TOMLTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let key: String
        public let value: TOMLValue
        /// 1-based line of the key (for `a.b.c = 1`, all three share the line;
        /// for a table named only in headers, the line of the defining header).
        public let line: Int
    }

    public private(set) var entries: [Entry]
    /// Line of the `[table]` or `[[array]]` header that defined this table;
    /// nil for the root, inline tables and tables created by dotted keys.
    public let headerLine: Int?
    /// Key → entry position, built only for tables too big for a linear scan.
    private let positions: [String: Int]

    public init() {
        self.init(entries: [], headerLine: nil)
    }

    /// Entries must have distinct keys; the parser guarantees it.
    init(entries: [Entry], headerLine: Int?) {
        self.entries = entries
        self.headerLine = headerLine
        var positions: [String: Int] = [:]
        if entries.count > TOMLTableNode.linearSearchLimit {
            positions.reserveCapacity(entries.count)
            for (position, entry) in entries.enumerated() {
                positions[entry.key] = position
            }
        }
        self.positions = positions
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    /// Keys in file order.
    public var keys: [String] { entries.map(\.key) }

    public subscript(key: String) -> TOMLValue? {
        entry(key)?.value
    }

    public func entry(_ key: String) -> Entry? {
        if entries.count <= TOMLTableNode.linearSearchLimit {
            return entries.first { $0.key == key }
        }
        return positions[key].map { entries[$0] }
    }

    /// Line where `key` was defined in this table.
    public func line(of key: String) -> Int? {
        entry(key)?.line
    }

    /// Follows nested tables: `value(at: ["relay", "tls", "mode"])`.
    public func value(at path: [String]) -> TOMLValue? {
        guard let first = path.first, let value = self[first] else { return nil }
        if path.count == 1 { return value }
        return value.tableValue?.value(at: Array(path.dropFirst()))
    }

    public func string(_ key: String) -> String? { self[key]?.stringValue }
    public func integer(_ key: String) -> Int64? { self[key]?.integerValue }
    public func float(_ key: String) -> Double? { self[key]?.floatValue }
    public func double(_ key: String) -> Double? { self[key]?.doubleValue }
    public func bool(_ key: String) -> Bool? { self[key]?.boolValue }
    public func datetime(_ key: String) -> String? { self[key]?.datetimeText }
    public func array(_ key: String) -> [TOMLValue]? { self[key]?.arrayValue }
    public func table(_ key: String) -> TOMLTable? { self[key]?.tableValue }

    /// Tables in an `[[array.of.tables]]` (or an inline array of inline tables).
    public func tables(_ key: String) -> [TOMLTable]? {
        guard let array = array(key) else { return nil }
        var tables: [TOMLTable] = []
        tables.reserveCapacity(array.count)
        for element in array {
            guard let table = element.tableValue else { return nil }
            tables.append(table)
        }
        return tables
    }

    /// Tables are unordered maps in TOML: two tables are equal when they hold
    /// the same keys with equal values. File order and line numbers record
    /// where the content came from, not what it is, so they are ignored.
    public static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        guard lhs.entries.count == rhs.entries.count else { return false }
        for entry in lhs.entries {
            guard let other = rhs[entry.key], other == entry.value else { return false }
        }
        return true
    }
}
