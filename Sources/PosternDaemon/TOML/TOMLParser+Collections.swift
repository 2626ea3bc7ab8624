/// Arrays and inline tables (TOML v1.0 "Array" and "Inline Table"). Both
/// are values: once written they are closed to later headers and dotted keys.
extension TOMLParser {
    /// array = "[" [ array-values ] ws-comment-newline "]"
    /// array-values = ws-comment-newline val ws-comment-newline [ "," [ array-values ] ]
    mutating func parseArray(depth: Int) throws(TOMLError) -> [TOMLValue] {
        let start = position
        guard depth <= TOMLLimits.maximumNesting else {
            throw error(.nestingTooDeep, "arrays and inline tables nested more than \(TOMLLimits.maximumNesting) deep")
        }
        position += 1
        var elements: [TOMLValue] = []
        while true {
            try skipWhitespaceCommentsAndNewlines()
            if peek() == TOMLByte.closeBracket { break }
            elements.append(try parseValue(depth: depth))
            try skipWhitespaceCommentsAndNewlines()
            if peek() == TOMLByte.comma {
                position += 1
                continue
            }
            guard peek() == TOMLByte.closeBracket else {
                if isAtEnd { throw error(.syntax, "unterminated array: missing ']'", at: start) }
                throw error(.syntax, "expected ',' or ']' after array element, found \(describeCharacter(at: position))")
            }
            break
        }
        position += 1
        return elements
    }

    /// inline-table = "{" ws [ inline-table-keyvals ] ws "}"
    /// inline-table-keyvals = keyval [ ws "," ws inline-table-keyvals ]
    /// TOML v1.0: one line, no trailing comma; the table is closed afterwards.
    mutating func parseInlineTable(depth: Int) throws(TOMLError) -> TOMLTable {
        let start = position
        guard depth <= TOMLLimits.maximumNesting else {
            throw error(.nestingTooDeep, "arrays and inline tables nested more than \(TOMLLimits.maximumNesting) deep")
        }
        position += 1
        sectionCount += 1
        let section = sectionCount
        let table = TOMLTableNode(origin: .root)
        skipWhitespace()
        if peek() == TOMLByte.closeBrace {
            position += 1
            return table.build()
        }
        while true {
            skipWhitespace()
            try parseKeyValue(into: table, section: section, depth: depth)
            skipWhitespace()
            switch peek() {
            case TOMLByte.comma:
                position += 1
                skipWhitespace()
                if peek() == TOMLByte.closeBrace {
                    throw error(.syntax, "trailing comma is not allowed in an inline table")
                }
            case TOMLByte.closeBrace:
                position += 1
                return table.build()
            case nil:
                throw error(.syntax, "unterminated inline table: missing '}'", at: start)
            case TOMLByte.lineFeed, TOMLByte.carriageReturn:
                throw error(.syntax, "an inline table must be on one line; missing '}'")
            default:
                throw error(.syntax, "expected ',' or '}' in inline table, found \(describeCharacter(at: position))")
            }
        }
    }
}
