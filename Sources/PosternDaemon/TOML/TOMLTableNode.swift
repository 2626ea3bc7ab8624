/// A table under construction. The parser needs to find a table again by
/// path and add to it in place, so the working tree uses reference types;
/// `build()` turns it into the immutable `TOMLTable` value.
final class TOMLTableNode {
    /// How the table came to exist, which decides how it may still be extended
    /// (TOML v1.0 "Table" section).
    enum Origin: Equatable {
        /// The root table, or a table being filled by an inline table `{ }`.
        case root
        /// Named as a parent in a header (`a` in `[a.b]`); one later `[a]`
        /// may still define it.
        case implicit
        /// Defined by its own `[header]`, or an `[[array]]` element.
        case header
        /// Created by a dotted key (`a.b = 1` creates `a`) in the section
        /// numbered `section`; only that section may add to it by dotted keys.
        case dotted(section: Int)
    }

    enum Node {
        case value(TOMLValue)
        case table(TOMLTableNode)
        case tableArray(TOMLTableArrayNode)
    }

    struct Entry {
        let key: String
        var line: Int
        var node: Node
    }

    /// Most tables hold a handful of keys, where comparing keys one by one
    /// beats hashing; past this many entries a dictionary takes over.
    static let linearSearchLimit = 8

    var origin: Origin
    var headerLine: Int?
    private(set) var entries: [Entry] = []
    /// Key → entry position, filled once the table outgrows a linear scan.
    private var positions: [String: Int] = [:]

    init(origin: Origin, headerLine: Int? = nil) {
        self.origin = origin
        self.headerLine = headerLine
    }

    func entry(_ key: String) -> Entry? {
        position(of: key).map { entries[$0] }
    }

    private func position(of key: String) -> Int? {
        if entries.count <= Self.linearSearchLimit {
            return entries.firstIndex { $0.key == key }
        }
        return positions[key]
    }

    func add(_ key: String, line: Int, node: Node) {
        precondition(position(of: key) == nil, "TOML key \(key) added twice")
        entries.append(Entry(key: key, line: line, node: node))
        if entries.count > Self.linearSearchLimit {
            if positions.isEmpty {
                for (position, entry) in entries.enumerated() { positions[entry.key] = position }
            } else {
                positions[key] = entries.count - 1
            }
        }
    }

    /// Moves the recorded line of `key` to the header that finally defined it.
    func setLine(_ line: Int, of key: String) {
        if let position = position(of: key) { entries[position].line = line }
    }

    func build() -> TOMLTable {
        let built = entries.map { entry in
            TOMLTable.Entry(key: entry.key, value: entry.node.build(), line: entry.line)
        }
        return TOMLTable(entries: built, headerLine: headerLine)
    }
}

/// The tables of one `[[array.of.tables]]`; the parser appends as headers repeat.
final class TOMLTableArrayNode {
    var tables: [TOMLTableNode]

    init(first: TOMLTableNode) {
        tables = [first]
    }
}

extension TOMLTableNode.Node {
    func build() -> TOMLValue {
        switch self {
        case .value(let value): value
        case .table(let table): .table(table.build())
        case .tableArray(let array): .array(array.tables.map { .table($0.build()) })
        }
    }

    /// What the key holds, for conflict messages.
    var typeName: String {
        switch self {
        case .value(let value): value.typeName
        case .table: "table"
        case .tableArray: "array of tables"
        }
    }
}
