/// SMTP AUTH (RFC 4954) in the session: when AUTH may start, and what
/// follows its outcome. The SASL exchange itself (challenges, base64,
/// password checks) is the handler's, since it needs I/O.
extension ServerSession {
    mutating func auth(mechanism: String, initialResponse: String?) -> Action {
        guard !configuration.authMechanisms.isEmpty else {
            return error(SMTPReply(code: 502, enhanced: .badSequence, text: "Authentication not enabled"))
        }
        guard state == .ready, let greeting, greeting.extended else { return sequenceError("Send EHLO first") }
        guard authenticatedUser == nil else { return sequenceError("Already authenticated") }
        guard transaction == nil else { return sequenceError("AUTH not allowed during a mail transaction") }
        if configuration.authRequiresTLS && !tlsActive {
            // RFC 4954 §6: 538 when the mechanism needs an encrypted channel.
            return error(SMTPReply(code: 538, enhanced: EnhancedStatusCode(5, 7, 11),
                                   text: "Encryption required for requested authentication mechanism"))
        }
        let name = mechanism.uppercased()
        guard configuration.authMechanisms.contains(name) else {
            return error(SMTPReply(code: 504, enhanced: EnhancedStatusCode(5, 5, 4), text: "Unrecognized authentication type"))
        }
        state = .authenticating
        return .authenticate(mechanism: name, initialResponse: initialResponse)
    }

    /// The credentials were right: 235 (RFC 4954 §6).
    public mutating func authSucceeded(user: String) -> SMTPReply {
        state = .ready
        authenticatedUser = user
        return SMTPReply(code: 235, enhanced: EnhancedStatusCode(2, 7, 0), text: "Authentication successful")
    }

    /// The credentials were wrong (535 5.7.8) or could not be checked (454
    /// 4.7.0). After `maxAuthFailures` wrong ones, or when `close` is set
    /// (the client's address is being throttled), 421 and close.
    public mutating func authFailed(_ reply: SMTPReply, close: Bool = false) -> Action {
        state = .ready
        if reply.code == 535 { authFailures += 1 }
        guard close || authFailures >= configuration.maxAuthFailures else { return .reply(reply) }
        state = .closed
        return .close([reply, SMTPReply(code: 421, enhanced: EnhancedStatusCode(4, 7, 0),
                                        text: "\(configuration.hostname) Too many failed authentication attempts, closing connection")])
    }

    /// The client cancelled with "*" or sent an unreadable response (501).
    public mutating func authAborted(_ reply: SMTPReply) -> Action {
        state = .ready
        return error(reply)
    }

    /// The "with" keyword of the Received line (RFC 3848): ESMTP, ESMTPS,
    /// ESMTPA, ESMTPSA; UTF8SMTP… under SMTPUTF8 (RFC 6531 §3.7.3).
    public var receivedProtocol: String {
        let extended = greeting?.extended ?? true
        let base = transaction?.parameters.smtpUTF8 == true ? "UTF8SMTP" : (extended ? "ESMTP" : "SMTP")
        return base + (tlsActive ? "S" : "") + (authenticatedUser != nil ? "A" : "")
    }
}
