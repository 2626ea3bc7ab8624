/// A mistake in a TOML document, with the position a person should look at.
///
/// `description` reads "line 7, column 12: expected '=' after key 'port'";
/// `postern config check` prefixes the file name.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Anything not matching the grammar: a missing '=', a bad key, an
        /// unclosed array or header.
        case syntax
        /// The same key defined twice, directly or through dotted keys.
        case duplicateKey
        /// A table defined twice, or extended in a way TOML forbids (a
        /// `[header]` over a dotted-key table, dotted keys into a `[header]`
        /// table, `[[a]]` over a table, adding to an inline table).
        case tableRedefined
        case invalidEscape
        case unterminatedString
        /// A control character (or a bare carriage return) where TOML forbids one.
        case controlCharacter
        /// A decimal number written with a leading zero, like `007`.
        case leadingZero
        /// A malformed or out-of-range integer or float.
        case invalidNumber
        case invalidDateTime
        /// Characters after a complete value or header on the same line.
        case trailingCharacters
        /// Arrays, inline tables or dotted keys nested deeper than
        /// `TOMLLimits.maximumNesting`.
        case nestingTooDeep
    }

    public let kind: Kind
    /// 1-based line.
    public let line: Int
    /// 1-based column, counted in Unicode scalars.
    public let column: Int
    public let message: String

    public init(kind: Kind, line: Int, column: Int, message: String) {
        self.kind = kind
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        "line \(line), column \(column): \(message)"
    }
}

/// Limits that keep a hostile or broken file from exhausting the stack.
public enum TOMLLimits {
    /// Deepest nesting of arrays and inline tables, and most parts in one
    /// dotted key or table header name.
    public static let maximumNesting = 64
}
