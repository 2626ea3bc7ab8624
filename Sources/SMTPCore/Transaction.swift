/// One mail transaction: MAIL, its RCPTs and the message (RFC 5321 §3.3).
/// Kept apart from the session, which outlives many transactions.
public struct Transaction: Sendable, Hashable {
    public var sender: ReversePath
    public var parameters: MailParameters
    public private(set) var recipients: [ForwardPath] = []
    /// The RCPT parameters of each recipient, in the order of `recipients`
    /// (one each, empty when none were given).
    public private(set) var recipientParameters: [RecipientParameters] = []
    /// Message octets received so far (after dot-unstuffing).
    public var receivedSize = 0
    /// Set once the message passed the size limit: the rest is read and
    /// thrown away, then 552 is answered (RFC 1870 §6).
    public var oversized = false
    /// BDAT was used; DATA is then refused (RFC 3030 §2).
    public var usedChunking = false
    /// What was wrong with the message text, found while it streamed in;
    /// the message is refused at its end.
    public var textDefect: TextDefect?

    public init(sender: ReversePath, parameters: MailParameters) {
        self.sender = sender
        self.parameters = parameters
    }

    /// Adds an accepted recipient with its RCPT parameters.
    public mutating func add(_ recipient: ForwardPath, parameters: RecipientParameters = RecipientParameters()) {
        recipients.append(recipient)
        recipientParameters.append(parameters)
    }

    /// Whether the transaction needs SMTPUTF8 (RFC 6531): non-ASCII addresses.
    var needsSMTPUTF8: Bool {
        if sender.mailbox?.isInternationalized == true { return true }
        return recipients.contains {
            if case .mailbox(let mailbox) = $0 { return mailbox.isInternationalized }
            return false
        }
    }
}

/// Message text no next hop should be handed, refused at the end of the
/// message with 554 5.6.0 (the session goes on).
public enum TextDefect: Sendable, Hashable {
    /// CR or LF outside a CRLF pair in BDAT content (RFC 5321 §2.3.8).
    case bareLineEnding
    /// NUL octets (RFC 5322 §4.1: obsolete syntax; RFC 2045 §2.8).
    case nul
    /// A line over 998 octets, when the policy refuses them (RFC 5322 §2.1.1).
    case longLine

    var reply: SMTPReply {
        let text = switch self {
        case .bareLineEnding: "Bare CR or LF in message text refused (RFC 5321 section 2.3.8)"
        case .nul: "NUL octets in message text refused (RFC 5322 section 4.1)"
        case .longLine: "Message has a line longer than 998 octets (RFC 5322 section 2.1.1)"
        }
        return SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 6, 0), text: text)
    }
}

/// What the client told us about itself.
public struct ClientGreeting: Sendable, Hashable {
    public var name: String
    /// EHLO rather than HELO.
    public var extended: Bool

    public init(name: String, extended: Bool) {
        self.name = name
        self.extended = extended
    }
}
