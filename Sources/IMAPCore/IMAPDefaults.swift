/// Limits on what one IMAP client may make the server buffer or parse.
/// They live in one place so the framing layer, the parser and the server
/// agree (compare `SMTPDefaults`).
public struct IMAPLimits: Equatable, Sendable {
    /// Octets of one line segment, CRLF included (RFC 7162 §4 asks servers
    /// to accept at least 8192 because clients send long UID sets).
    public var maxLineLength: Int
    /// Octets of one literal (RFC 3501 §4.3). Commands here carry names,
    /// passwords and search strings; an APPEND (which the server refuses
    /// anyway) whose message is larger is refused by the framing.
    public var maxLiteralSize: Int
    /// Octets of one whole command, literals included, checked each time a
    /// literal is announced; the final segment may add one more line.
    public var maxCommandSize: Int
    /// Depth of nested parentheses (search keys, NOT/OR chains, lists).
    public var maxNestingDepth: Int
    /// Items in one list: search keys, FETCH attributes, header names, flags.
    public var maxListItems: Int

    public init(
        maxLineLength: Int = 8192,
        maxLiteralSize: Int = 64 * 1024,
        maxCommandSize: Int = 256 * 1024,
        maxNestingDepth: Int = 16,
        maxListItems: Int = 256
    ) {
        self.maxLineLength = maxLineLength
        self.maxLiteralSize = maxLiteralSize
        self.maxCommandSize = maxCommandSize
        self.maxNestingDepth = maxNestingDepth
        self.maxListItems = maxListItems
    }
}

public enum IMAPDefaults {
    public static let limits = IMAPLimits()
}
