/// An ESMTP parameter on MAIL or RCPT (RFC 5321 §4.1.2):
/// esmtp-keyword ["=" esmtp-value]. The keyword is uppercased.
public struct ESMTPParameter: Sendable, Hashable {
    public var keyword: String
    public var value: String?

    public init(keyword: String, value: String? = nil) {
        self.keyword = keyword
        self.value = value
    }
}

/// One command from the client (RFC 5321 §4.1.1, RFC 3030, RFC 3207, RFC 4954).
public enum SMTPCommand: Sendable, Hashable {
    case helo(String)
    case ehlo(String)
    case mail(ReversePath, [ESMTPParameter])
    case rcpt(ForwardPath, [ESMTPParameter])
    case data
    /// BDAT chunk-size [LAST] (RFC 3030 §2).
    case bdat(size: Int, last: Bool)
    case rset
    case noop
    case quit
    case vrfy(String)
    case expn(String)
    case help(String?)
    case startTLS
    /// AUTH mechanism [initial-response] (RFC 4954 §4).
    case auth(mechanism: String, initialResponse: String?)

    /// The verb, for logs and metrics.
    public var verb: String {
        switch self {
        case .helo: return "HELO"
        case .ehlo: return "EHLO"
        case .mail: return "MAIL"
        case .rcpt: return "RCPT"
        case .data: return "DATA"
        case .bdat: return "BDAT"
        case .rset: return "RSET"
        case .noop: return "NOOP"
        case .quit: return "QUIT"
        case .vrfy: return "VRFY"
        case .expn: return "EXPN"
        case .help: return "HELP"
        case .startTLS: return "STARTTLS"
        case .auth: return "AUTH"
        }
    }

    /// Commands that move no mail (Postfix's junk commands, with the
    /// greetings, which a flooder can repeat as cheaply).
    public var isJunk: Bool {
        switch self {
        case .noop, .rset, .vrfy, .expn, .help, .helo, .ehlo: return true
        case .mail, .rcpt, .data, .bdat, .quit, .startTLS, .auth: return false
        }
    }
}

/// Why a command line could not be parsed; each maps to one reply.
public enum SMTPCommandError: Error, Sendable, Hashable {
    /// Unknown verb (500 5.5.2).
    case unrecognized(String)
    /// The line held NUL, invalid UTF-8 or was otherwise unreadable (500 5.5.2).
    case malformedLine
    /// Arguments do not fit the verb's syntax (501 5.5.4).
    case syntax(String)
    /// The path of MAIL (501 5.1.7) or RCPT (501 5.1.3) is malformed.
    case badPath(String, SMTPPathKind)
    /// BDAT with an unreadable chunk size: the stream can't be followed (501, close).
    case badChunkSize
    /// An HTTP request line sent to the SMTP port: the connection is closed.
    case httpRequest

    public var reply: SMTPReply {
        switch self {
        case .unrecognized:
            return SMTPReply(code: 500, enhanced: .syntaxError, text: "Command unrecognized")
        case .malformedLine:
            return SMTPReply(code: 500, enhanced: .syntaxError, text: "Command line not understood")
        case .syntax(let usage):
            return SMTPReply(code: 501, enhanced: .invalidArguments, text: "Syntax: \(usage)")
        case .badPath(let reason, .reverse):
            return SMTPReply(code: 501, enhanced: EnhancedStatusCode(5, 1, 7), text: "Bad sender address syntax: \(reason)")
        case .badPath(let reason, .forward):
            return SMTPReply(code: 501, enhanced: EnhancedStatusCode(5, 1, 3), text: "Bad recipient address syntax: \(reason)")
        case .badChunkSize:
            return SMTPReply(code: 501, enhanced: .invalidArguments, text: "Syntax: BDAT chunk-size [LAST]")
        case .httpRequest:
            return SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 7, 0), text: "This is an SMTP server, not HTTP")
        }
    }
}

/// Which path a syntax error was found in: MAIL's or RCPT's.
public enum SMTPPathKind: Sendable, Hashable {
    case reverse
    case forward
}
