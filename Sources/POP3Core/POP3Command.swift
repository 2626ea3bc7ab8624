import IMAPCore

/// One POP3 command (RFC 1939 §§4–7, RFC 2449 CAPA, RFC 2595 STLS,
/// RFC 5034 AUTH). Message numbers are 1-based as sent; APOP is not offered
/// (it needs the cleartext password on the server) and so is not parsed.
public enum POP3Command: Equatable, Sendable, CustomStringConvertible {
    case user(String)
    /// The rest of the line after "PASS ", spaces included (RFC 1939 §7).
    case pass(SecretBytes)
    /// No mechanism: list the mechanisms (as many servers do for old clients).
    case auth(mechanism: String?, initialResponse: SecretBytes?)
    case stat
    case list(Int?)
    case retr(Int)
    case dele(Int)
    case noop
    case rset
    case quit
    case top(Int, lines: Int)
    case uidl(Int?)
    case capa
    case stls

    /// The keyword, for metrics and logs; never the arguments (a password).
    public var verb: String {
        switch self {
        case .user: "USER"
        case .pass: "PASS"
        case .auth: "AUTH"
        case .stat: "STAT"
        case .list: "LIST"
        case .retr: "RETR"
        case .dele: "DELE"
        case .noop: "NOOP"
        case .rset: "RSET"
        case .quit: "QUIT"
        case .top: "TOP"
        case .uidl: "UIDL"
        case .capa: "CAPA"
        case .stls: "STLS"
        }
    }

    public var description: String { verb }

    public static let verbs = ["USER", "PASS", "AUTH", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP",
                               "UIDL", "CAPA", "STLS"]
}

/// Why a command line was refused; answered "-ERR" with `text`.
public enum POP3ParseError: Error, Equatable, Sendable {
    case emptyLine
    case unknownCommand(String)
    /// Arguments missing, extra or of the wrong shape; the text is the usage.
    case syntax(String)
    /// A message number that is not 1*DIGIT in range (or a zero).
    case invalidNumber
    /// NUL or another control character, or bytes that are not UTF-8.
    case invalidCharacters

    public var text: String {
        switch self {
        case .emptyLine: "Empty command"
        case .unknownCommand(let verb): "Unknown command \(verb.prefix(16))"
        case .syntax(let usage): "Syntax: \(usage)"
        case .invalidNumber: "Invalid message number"
        case .invalidCharacters: "Invalid characters in command"
        }
    }
}
