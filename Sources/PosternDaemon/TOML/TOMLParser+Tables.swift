/// Table headers and the rules for where a key may be defined
/// (TOML v1.0 "Table", "Array of Tables" and "Keys" sections). These rules
/// match the toml-test suite: a table is defined once, by a header or by
/// dotted keys, never both; dotted keys only add to tables they created in
/// the same section; inline tables and arrays are closed once written.
extension TOMLParser {
    /// table = std-table / array-table
    /// std-table = "[" ws key ws "]"; array-table = "[[" ws key ws "]]"
    /// Returns the table that the following key/value pairs fill.
    mutating func parseTableHeader(root: TOMLTableNode) throws(TOMLError) -> TOMLTableNode {
        let start = position
        let isArray = peek(1) == TOMLByte.openBracket
        position += isArray ? 2 : 1
        skipWhitespace()
        let key = try parseKey()
        let closing = isArray ? "]]" : "]"
        guard peek() == TOMLByte.closeBracket, !isArray || peek(1) == TOMLByte.closeBracket else {
            throw error(.syntax, "expected '\(closing)' to close table header, found \(describeCharacter(at: position))")
        }
        position += isArray ? 2 : 1
        sectionCount += 1
        sectionName = key.map(\.name)
        let line = currentLine(at: start)
        let parent = try parentTable(of: key, from: root, headerLine: line)
        if isArray {
            return try appendArrayTable(key, in: parent, headerLine: line)
        }
        return try defineHeaderTable(key, in: parent, headerLine: line)
    }

    /// Walks every part of a header name but the last, creating implicit
    /// tables and stepping into the newest element of arrays of tables.
    private func parentTable(of key: [KeyPart], from root: TOMLTableNode, headerLine: Int) throws(TOMLError) -> TOMLTableNode {
        var table = root
        for (index, part) in key.dropLast().enumerated() {
            guard let entry = table.entry(part.name) else {
                let created = TOMLTableNode(origin: .implicit)
                table.add(part.name, line: headerLine, node: .table(created))
                table = created
                continue
            }
            switch entry.node {
            case .table(let next):
                table = next
            case .tableArray(let array):
                table = array.tables[array.tables.count - 1]
            case .value(let value):
                throw notATable(Self.dottedName(key[...index]), holds: value, line: entry.line, at: part.offset)
            }
        }
        return table
    }

    /// `[a.b]`: defines `b` in `parent`, or completes a table that earlier
    /// headers only named as a parent.
    private func defineHeaderTable(_ key: [KeyPart], in parent: TOMLTableNode, headerLine: Int) throws(TOMLError) -> TOMLTableNode {
        let last = key[key.count - 1]
        let name = Self.dottedName(key)
        guard let entry = parent.entry(last.name) else {
            let table = TOMLTableNode(origin: .header, headerLine: headerLine)
            parent.add(last.name, line: headerLine, node: .table(table))
            return table
        }
        switch entry.node {
        case .table(let table):
            switch table.origin {
            case .implicit:
                table.origin = .header
                table.headerLine = headerLine
                parent.setLine(headerLine, of: last.name)
                return table
            case .header:
                throw error(.tableRedefined, "table [\(name)] is already defined on line \(table.headerLine ?? entry.line)", at: last.offset)
            case .dotted, .root:
                throw error(.tableRedefined, "table [\(name)] is already defined by dotted keys on line \(entry.line)", at: last.offset)
            }
        case .tableArray:
            throw error(.tableRedefined, "table [\(name)] is already defined as an array of tables on line \(entry.line)", at: last.offset)
        case .value(let value):
            throw notATable(name, holds: value, line: entry.line, at: last.offset)
        }
    }

    /// `[[a.b]]`: starts a new table at the end of the array `b`.
    private func appendArrayTable(_ key: [KeyPart], in parent: TOMLTableNode, headerLine: Int) throws(TOMLError) -> TOMLTableNode {
        let last = key[key.count - 1]
        let table = TOMLTableNode(origin: .header, headerLine: headerLine)
        guard let entry = parent.entry(last.name) else {
            parent.add(last.name, line: headerLine, node: .tableArray(TOMLTableArrayNode(first: table)))
            return table
        }
        switch entry.node {
        case .tableArray(let array):
            array.tables.append(table)
            return table
        case .table:
            throw error(.tableRedefined, "cannot define array of tables [[\(Self.dottedName(key))]]: it is already a table (line \(entry.line))", at: last.offset)
        case .value(.array):
            throw error(.duplicateKey, "cannot define array of tables [[\(Self.dottedName(key))]]: it is already an array value (line \(entry.line)), which cannot be extended", at: last.offset)
        case .value(let value):
            throw notATable(Self.dottedName(key), holds: value, line: entry.line, at: last.offset)
        }
    }

    /// Adds `key = value` to `table`. Parts before the last name tables,
    /// created here as dotted-key tables of `section` if missing.
    mutating func define(_ key: [KeyPart], value: TOMLValue, in table: TOMLTableNode, section: Int) throws(TOMLError) {
        let line = currentLine(at: key[0].offset)
        var table = table
        for (index, part) in key.dropLast().enumerated() {
            guard let entry = table.entry(part.name) else {
                let created = TOMLTableNode(origin: .dotted(section: section))
                table.add(part.name, line: line, node: .table(created))
                table = created
                continue
            }
            let name = Self.dottedName(key[...index])
            switch entry.node {
            case .table(let next):
                switch next.origin {
                case .dotted(section: section):
                    break
                case .implicit:
                    next.origin = .dotted(section: section)
                case .dotted, .root:
                    throw error(.tableRedefined, "table '\(name)' was defined by dotted keys on line \(entry.line) and cannot be extended from here", at: part.offset)
                case .header:
                    let fullName = Self.dottedName(sectionName + key[...index].map(\.name))
                    throw error(.tableRedefined, "cannot add to table [\(fullName)] (defined on line \(next.headerLine ?? entry.line)) with dotted keys", at: part.offset)
                }
                table = next
            case .tableArray:
                throw error(.tableRedefined, "cannot add to array of tables [[\(name)]] (line \(entry.line)) with dotted keys", at: part.offset)
            case .value(let value):
                throw notATable(name, holds: value, line: entry.line, at: part.offset)
            }
        }
        let last = key[key.count - 1]
        if let entry = table.entry(last.name) {
            throw error(.duplicateKey, "duplicate key '\(Self.dottedName(key))' (first defined on line \(entry.line))", at: last.offset)
        }
        table.add(last.name, line: line, node: .value(value))
    }

    /// A key path runs into a value: inline tables and arrays are closed
    /// once written; anything else is simply a second definition.
    private func notATable(_ name: String, holds value: TOMLValue, line: Int, at offset: Int) -> TOMLError {
        if case .table = value {
            return error(.tableRedefined, "inline table '\(name)' (line \(line)) cannot be extended", at: offset)
        }
        return error(.duplicateKey, "key '\(name)' is already \(Self.withArticle(value.typeName)) (line \(line)), not a table", at: offset)
    }

    /// "an integer", "a string".
    static func withArticle(_ noun: String) -> String {
        let vowel = noun.first.map { "aeiou".contains($0) } ?? false
        return (vowel ? "an " : "a ") + noun
    }
}
