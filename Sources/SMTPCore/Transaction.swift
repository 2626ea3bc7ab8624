/// One mail transaction: MAIL, its RCPTs and the message (RFC 5321 §3.3).
/// Kept apart from the session, which outlives many transactions.
public struct Transaction: Sendable, Hashable {
    public var sender: ReversePath
    public var parameters: MailParameters
    public var recipients: [ForwardPath] = []
    /// Message octets received so far (after dot-unstuffing).
    public var receivedSize = 0
    /// Set once the message passed the size limit: the rest is read and
    /// thrown away, then 552 is answered (RFC 1870 §6).
    public var oversized = false
    /// BDAT was used; DATA is then refused (RFC 3030 §2).
    public var usedChunking = false
    /// BDAT content held a CR or LF outside a CRLF pair.
    public var bareLineEnding = false

    public init(sender: ReversePath, parameters: MailParameters) {
        self.sender = sender
        self.parameters = parameters
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
