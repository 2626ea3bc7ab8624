/// One client command with its tag (RFC 3501 §6).
public struct TaggedCommand: Equatable, Sendable {
    public var tag: String
    public var command: IMAPCommand

    public init(tag: String, command: IMAPCommand) {
        self.tag = tag
        self.command = command
    }
}

/// The commands the quarantine's IMAP access understands (RFC 3501 §6,
/// with IDLE RFC 2177, UNSELECT RFC 3691, MOVE RFC 6851, UID EXPUNGE
/// RFC 4315, ID RFC 2971, SASL-IR RFC 4959, ENABLE RFC 5161, NAMESPACE
/// RFC 2342, LIST-EXTENDED RFC 5258). Mailbox management and APPEND are
/// parsed so that the server can refuse them properly (NO, not BAD).
public enum IMAPCommand: Equatable, Sendable {
    case capability
    case noop
    case logout
    case startTLS
    /// The password stays bytes (it need not be UTF-8) and prints redacted.
    case login(username: String, password: SecretBytes)
    /// Mechanism uppercased; the initial response (RFC 4959) as sent, "=" for empty.
    case authenticate(mechanism: String, initialResponse: SecretBytes?)
    /// RFC 2971; NIL is an empty list.
    case id([IDParameter])
    case select(MailboxName)
    case examine(MailboxName)
    case list(reference: MailboxName, pattern: String)
    case lsub(reference: MailboxName, pattern: String)
    case status(MailboxName, [StatusAttribute])
    case check
    case close
    case unselect
    case expunge
    case search(charset: String?, SearchKey)
    case fetch(SequenceSet, [FetchAttribute])
    case store(SequenceSet, StoreFlags)
    case copy(SequenceSet, MailboxName)
    case move(SequenceSet, MailboxName)
    case uidSearch(charset: String?, SearchKey)
    case uidFetch(SequenceSet, [FetchAttribute])
    case uidStore(SequenceSet, StoreFlags)
    case uidCopy(SequenceSet, MailboxName)
    case uidMove(SequenceSet, MailboxName)
    case uidExpunge(SequenceSet)
    /// RFC 2177: the server answers "+ idling" and waits for a DONE line,
    /// read with `IMAPCommandParser.parseIdleDone`.
    case idle
    /// RFC 5161: the capability names, uppercased.
    case enable([String])
    /// RFC 2342.
    case namespace
    case subscribe(MailboxName)
    case unsubscribe(MailboxName)
    case create(MailboxName)
    case delete(MailboxName)
    case rename(from: MailboxName, to: MailboxName)
    /// RFC 3501 §6.3.11: the message is one literal, so it is bounded by
    /// `IMAPLimits.maxLiteralSize` (a larger one is refused by the framing).
    case append(MailboxName, flags: [Flag], date: IMAPDateTime?, message: [UInt8])
    /// LIST with selection options, several patterns or return options
    /// (RFC 5258, e.g. `LIST "" "*" RETURN (SPECIAL-USE)`, RFC 6154); the
    /// plain form stays `.list`. Option names are uppercased.
    case listExtended(selection: [String], reference: MailboxName, patterns: [String], returnOptions: [String])
}

/// A mailbox name (RFC 3501 §5.1). "INBOX" in any case is the inbox and is
/// stored uppercased; other names are kept as sent (modified UTF-7 or, with
/// UTF8=ACCEPT, UTF-8).
public struct MailboxName: Hashable, Sendable, ExpressibleByStringLiteral {
    public var name: String

    public init(_ name: String) {
        self.name = name.uppercased() == "INBOX" ? "INBOX" : name
    }

    public init(stringLiteral value: String) { self.init(value) }

    public var isInbox: Bool { name == "INBOX" }
}

/// One field/value pair of the ID command (RFC 2971 §3.3).
public struct IDParameter: Equatable, Sendable {
    public var key: String
    public var value: String?

    public init(key: String, value: String?) {
        self.key = key
        self.value = value
    }
}

/// status-att (RFC 3501 §6.3.10).
public enum StatusAttribute: String, Equatable, Sendable, CaseIterable {
    case messages = "MESSAGES"
    case recent = "RECENT"
    case uidNext = "UIDNEXT"
    case uidValidity = "UIDVALIDITY"
    case unseen = "UNSEEN"
}

/// flag (RFC 3501 §2.3.2): system flags, other backslash flags, keywords.
public enum Flag: Hashable, Sendable {
    case answered
    case flagged
    case deleted
    case seen
    case draft
    /// A backslash flag this module does not name, without the backslash.
    case `extension`(String)
    case keyword(String)
}

/// The STORE data item: "FLAGS", "+FLAGS" or "-FLAGS", maybe ".SILENT".
public struct StoreFlags: Equatable, Sendable {
    public enum Operation: Equatable, Sendable { case replace, add, remove }

    public var operation: Operation
    public var silent: Bool
    public var flags: [Flag]

    public init(operation: Operation, silent: Bool, flags: [Flag]) {
        self.operation = operation
        self.silent = silent
        self.flags = flags
    }
}

/// A client line inside an AUTHENTICATE exchange.
public enum AuthenticationResponse: Equatable, Sendable {
    /// The base64 text as sent (decoding is the mechanism's business).
    case response(SecretBytes)
    case cancel
}
