/// Why a command was refused, with the tag (when it was readable) for the
/// tagged BAD reply; without a tag the server answers "* BAD".
public struct IMAPParseError: Error, Equatable, Sendable {
    public var tag: String?
    public var reason: Reason

    public init(tag: String?, reason: Reason) {
        self.tag = tag
        self.reason = reason
    }

    public enum Reason: Error, Equatable, Sendable {
        case emptyLine
        case invalidTag
        case unknownCommand(String)
        /// Arguments missing or of the wrong shape; the text is the usage.
        case syntax(String)
        /// Something was expected here; the text names it.
        case expected(String)
        case unexpectedTrailingData
        /// A quoted string with NUL, CR, LF or a bad escape, or an unclosed one.
        case invalidQuotedString
        /// A `{n}` literal with a bad size or fewer octets than announced.
        case invalidLiteral
        /// Text that must be UTF-8 (names, search strings) is not.
        case invalidUTF8
        /// A number over its 32-bit bound, or a zero where nz-number is required.
        case invalidNumber
        case invalidDate
        case nestingTooDeep
        case tooManyItems
    }

    /// Short human text for the BAD reply.
    public var text: String { reason.text }
}

extension IMAPParseError.Reason {
    public var text: String {
        switch self {
        case .emptyLine: return "Empty command line"
        case .invalidTag: return "Invalid tag"
        case .unknownCommand(let name): return "Unknown command \(name.prefix(32))"
        case .syntax(let usage): return "Syntax: \(usage)"
        case .expected(let what): return "Expected \(what)"
        case .unexpectedTrailingData: return "Unexpected data after command"
        case .invalidQuotedString: return "Invalid quoted string"
        case .invalidLiteral: return "Invalid literal"
        case .invalidUTF8: return "Invalid UTF-8"
        case .invalidNumber: return "Invalid number"
        case .invalidDate: return "Invalid date (d-Mon-yyyy)"
        case .nestingTooDeep: return "Too deeply nested"
        case .tooManyItems: return "Too many items"
        }
    }
}
