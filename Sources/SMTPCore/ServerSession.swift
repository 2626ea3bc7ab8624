/// The server side of one SMTP session as a pure state machine (no I/O):
/// the handler feeds it commands and framing events and carries out the
/// `Action`s it returns. Modelled on swift-nio's state machines.
public struct ServerSession: Sendable {
    public struct Configuration: Sendable {
        public var hostname: String
        public var limits: SMTPLimits
        /// STARTTLS is offered when a certificate is configured.
        public var tlsAvailable: Bool
        /// SASL mechanisms for AUTH (RFC 4954); empty: AUTH is off.
        public var authMechanisms: [String]
        /// AUTH only after STARTTLS (538 5.7.11 before it).
        public var authRequiresTLS: Bool
        /// Failed AUTH attempts in one session before 421 and close.
        public var maxAuthFailures: Int

        public init(hostname: String, limits: SMTPLimits = SMTPDefaults.limits, tlsAvailable: Bool = false,
                    authMechanisms: [String] = [], authRequiresTLS: Bool = true, maxAuthFailures: Int = 3) {
            self.hostname = hostname
            self.limits = limits
            self.tlsAvailable = tlsAvailable
            self.authMechanisms = authMechanisms
            self.authRequiresTLS = authRequiresTLS
            self.maxAuthFailures = maxAuthFailures
        }
    }

    public enum Action: Sendable, Equatable {
        case reply(SMTPReply)
        /// Send the replies, then close the connection.
        case close([SMTPReply])
        /// Send the 220, then put TLS at the front of the pipeline.
        case startTLS(SMTPReply)
        /// Send 354 and switch the framing to DATA; open a spool for the body.
        case startData(SMTPReply)
        /// Read the chunk's bytes; open a spool if this is the first chunk.
        case startChunk(size: Int)
        /// Read and discard `size` octets of a refused chunk, then reply.
        case discardChunk(size: Int, SMTPReply)
        /// The message is complete: make it durable, then call
        /// `commitSucceeded` or `commitFailed`.
        case commit(Transaction)
        /// The body is refused: throw the spool away and send the reply.
        case abortMessage(SMTPReply)
        /// Ask the policy about the HELO name; then send `reply` (or the
        /// policy's refusal through `heloRefused`).
        case checkHELO(SMTPReply)
        /// Ask the policy about MAIL FROM; answer through `senderChecked`.
        case checkSender(Transaction)
        /// Ask the policy about one RCPT; answer through `recipientChecked`.
        case checkRecipient(ForwardPath)
        /// Run the SASL exchange for `mechanism`; finish with
        /// `authSucceeded`, `authFailed` or `authAborted` (RFC 4954 §4).
        case authenticate(mechanism: String, initialResponse: String?)
    }

    enum State: Sendable, Equatable {
        case awaitingGreeting
        case ready
        case inData
        case inChunk(last: Bool)
        case committing
        /// Waiting for the policy's answer on a command.
        case checking
        /// In a SASL exchange: lines are responses, not commands.
        case authenticating
        case closed
    }

    public let configuration: Configuration
    var state: State = .awaitingGreeting
    public internal(set) var greeting: ClientGreeting?
    public internal(set) var transaction: Transaction?
    public private(set) var tlsActive = false
    public private(set) var errorCount = 0
    /// NOOP, RSET, VRFY, EXPN, HELP, HELO and EHLO since the last accepted message.
    public private(set) var junkCommands = 0
    /// The AUTH identity once authenticated (RFC 4954 §4).
    public internal(set) var authenticatedUser: String?
    public internal(set) var authFailures = 0
    /// The parameters of the RCPT the policy is checking.
    var pendingRecipientParameters = RecipientParameters()
    /// Recipients the policy refused in this session.
    public private(set) var refusedRecipients = 0
    /// The largest message this client may send (policy: per network or
    /// user); advertised by SIZE and enforced at MAIL and end of data.
    public var messageSizeLimit: Int

    public init(configuration: Configuration) {
        self.configuration = configuration
        messageSizeLimit = configuration.limits.maxMessageSize
    }

    /// True while a SASL exchange is running: the next line is a response.
    public var isAuthenticating: Bool { state == .authenticating }

    private var limits: SMTPLimits { configuration.limits }

    /// The 220 banner (RFC 5321 §4.2; no enhanced code on the greeting).
    public var banner: SMTPReply {
        SMTPReply(code: 220, text: "\(configuration.hostname) ESMTP Postern")
    }

    /// Whether the client holds an open transaction (for logs and limits).
    public var isReceivingMessage: Bool { state == .inData || state == .committing || state.isChunk }

    // MARK: commands

    public mutating func receive(_ command: SMTPCommand) -> Action {
        let action = respond(to: command)
        guard command.isJunk, limits.maxJunkCommands > 0 else { return action }
        // Postfix's smtpd_junk_command_limit: past the limit every junk
        // command is an error, so a client that only flood-pipelines NOOPs
        // or EHLOs is cut off instead of costing CPU for ever.
        junkCommands += 1
        guard junkCommands > limits.maxJunkCommands else { return action }
        errorCount += 1
        guard errorCount >= limits.maxErrors else { return action }
        state = .closed
        return .close([SMTPReply(code: 421, enhanced: EnhancedStatusCode(4, 7, 0),
                                 text: "\(configuration.hostname) Too many junk commands, closing connection")])
    }

    private mutating func respond(to command: SMTPCommand) -> Action {
        switch command {
        case .helo(let name): return hello(name, extended: false)
        case .ehlo(let name): return hello(name, extended: true)
        case .mail(let sender, let params): return mail(sender, params)
        case .rcpt(let recipient, let params): return rcpt(recipient, params)
        case .data: return data()
        case .bdat(let size, let last): return bdat(size: size, last: last)
        case .rset:
            transaction = nil
            return .reply(SMTPReply(code: 250, enhanced: .success, text: "Ok"))
        case .noop:
            return .reply(SMTPReply(code: 250, enhanced: .success, text: "Ok"))
        case .quit:
            state = .closed
            return .close([SMTPReply(code: 221, enhanced: .success, text: "\(configuration.hostname) closing connection")])
        case .vrfy:
            // RFC 5321 §3.5.3: 252 when we will not verify but would accept.
            return .reply(SMTPReply(code: 252, enhanced: .success, text: "Cannot VRFY user, but will accept message and attempt delivery"))
        case .expn:
            return .reply(SMTPReply(code: 502, enhanced: .badSequence, text: "EXPN not available"))
        case .help:
            return .reply(SMTPReply(code: 214, enhanced: .success,
                                    text: "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS"))
        case .startTLS: return startTLS()
        case .auth(let mechanism, let initialResponse):
            return auth(mechanism: mechanism, initialResponse: initialResponse)
        }
    }

    /// A command line that did not parse.
    public mutating func receive(_ parseError: SMTPCommandError) -> Action {
        if parseError == .httpRequest {
            state = .closed
            return .close([])
        }
        if case .badChunkSize = parseError {
            // The chunk's length is unknown, so the stream can't be followed.
            state = .closed
            return .close([parseError.reply])
        }
        return error(parseError.reply)
    }

    /// A command line longer than the limit (RFC 5321 §4.5.3.1.4).
    public mutating func lineTooLong() -> Action {
        error(SMTPReply(code: 500, enhanced: EnhancedStatusCode(5, 5, 6), text: "Line too long"))
    }

    private mutating func hello(_ name: String, extended: Bool) -> Action {
        guard state == .awaitingGreeting || state == .ready else { return sequenceError("Command out of sequence") }
        transaction = nil // §4.1.4: EHLO/HELO reset the transaction
        greeting = ClientGreeting(name: name, extended: extended)
        state = .ready
        guard extended else {
            return .checkHELO(SMTPReply(code: 250, text: "\(configuration.hostname)"))
        }
        var lines = ["\(configuration.hostname)", "PIPELINING", "SIZE \(messageSizeLimit)", "8BITMIME",
                     "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN", "CHUNKING"]
        if configuration.tlsAvailable && !tlsActive { lines.append("STARTTLS") }
        if authOffered { lines.append("AUTH " + configuration.authMechanisms.joined(separator: " ")) }
        return .checkHELO(SMTPReply(code: 250, lines: lines))
    }

    /// The policy refused the HELO name: the client must try again.
    public mutating func heloRefused(_ reply: SMTPReply) -> SMTPReply {
        greeting = nil
        state = .awaitingGreeting
        return reply
    }

    /// AUTH appears in EHLO once it may be used (RFC 4954 §4: not before
    /// TLS when the policy wants it encrypted).
    private var authOffered: Bool {
        !configuration.authMechanisms.isEmpty && authenticatedUser == nil
            && (tlsActive || !configuration.authRequiresTLS)
    }

    private mutating func mail(_ sender: ReversePath, _ params: [ESMTPParameter]) -> Action {
        guard state == .ready, greeting != nil else {
            return sequenceError(state == .awaitingGreeting ? "Send HELO/EHLO first" : "Command out of sequence")
        }
        guard transaction == nil else { return sequenceError("Nested MAIL command") }
        let parameters: MailParameters
        do {
            parameters = try MailParameters(parsing: params, maxMessageSize: messageSizeLimit)
        } catch {
            if case .tooBig = error { return .reply(error.reply) } // a refusal, not a protocol error
            return self.error(error.reply)
        }
        if let mailbox = sender.mailbox, mailbox.isInternationalized, !parameters.smtpUTF8 {
            return .reply(Self.needsSMTPUTF8)
        }
        let proposed = Transaction(sender: sender, parameters: parameters)
        state = .checking
        return .checkSender(proposed)
    }

    /// The policy's answer on MAIL FROM: nil lets the transaction start.
    public mutating func senderChecked(_ proposed: Transaction, refusal: SMTPReply?) -> SMTPReply {
        state = .ready
        if let refusal { return refusal }
        transaction = proposed
        return SMTPReply(code: 250, enhanced: .senderOK, text: "Sender \(proposed.sender) ok")
    }

    private mutating func rcpt(_ recipient: ForwardPath, _ params: [ESMTPParameter]) -> Action {
        guard state == .ready, let transaction else { return sequenceError("Need MAIL command") }
        guard !transaction.usedChunking else { return sequenceError("RCPT not allowed after BDAT") }
        let parameters: RecipientParameters
        do {
            parameters = try RecipientParameters(parsing: params)
        } catch {
            return self.error(error.reply)
        }
        guard transaction.recipients.count < limits.maxRecipients else {
            // RFC 5321 §4.5.3.1.10: 452 for too many recipients, not an error.
            return .reply(SMTPReply(code: 452, enhanced: EnhancedStatusCode(4, 5, 3), text: "Too many recipients"))
        }
        if case .mailbox(let mailbox) = recipient, mailbox.isInternationalized, !transaction.parameters.smtpUTF8 {
            return .reply(Self.needsSMTPUTF8)
        }
        state = .checking
        pendingRecipientParameters = parameters
        return .checkRecipient(recipient)
    }

    /// The policy's answer on one RCPT: nil adds the recipient. Past
    /// `maxRefusedRecipients` refusals in the session, 421 and close.
    public mutating func recipientChecked(_ recipient: ForwardPath, refusal: SMTPReply?) -> Action {
        state = .ready
        guard let refusal else {
            transaction?.add(recipient, parameters: pendingRecipientParameters)
            return .reply(SMTPReply(code: 250, enhanced: .recipientOK, text: "Recipient \(recipient) ok"))
        }
        refusedRecipients += 1
        guard refusedRecipients >= limits.maxRefusedRecipients else { return .reply(refusal) }
        state = .closed
        return .close([refusal, SMTPReply(code: 421, enhanced: EnhancedStatusCode(4, 7, 0),
                                          text: "\(configuration.hostname) Too many refused recipients, closing connection")])
    }

    private mutating func data() -> Action {
        guard state == .ready, let transaction else { return sequenceError("Need MAIL command") }
        guard !transaction.usedChunking else { return sequenceError("DATA not allowed after BDAT") }
        guard !transaction.recipients.isEmpty else {
            // §3.3: no valid recipients; the client then sends no body.
            return error(SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 5, 1), text: "No valid recipients"))
        }
        state = .inData
        return .startData(SMTPReply(code: 354, text: "End data with <CR><LF>.<CR><LF>"))
    }

    private mutating func bdat(size: Int, last: Bool) -> Action {
        // The chunk's octets follow the command whatever we answer: read them.
        guard state == .ready, var transaction else {
            errorCount += 1
            return .discardChunk(size: size, SMTPReply(code: 503, enhanced: .badSequence, text: "Need MAIL command"))
        }
        guard !transaction.recipients.isEmpty else {
            errorCount += 1
            return .discardChunk(size: size, SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 5, 1), text: "No valid recipients"))
        }
        transaction.usedChunking = true
        self.transaction = transaction
        state = .inChunk(last: last)
        return .startChunk(size: size)
    }

    private mutating func startTLS() -> Action {
        guard configuration.tlsAvailable else {
            return error(SMTPReply(code: 502, enhanced: .badSequence, text: "STARTTLS not available"))
        }
        guard !tlsActive else { return sequenceError("TLS already active") }
        guard state == .ready || state == .awaitingGreeting, transaction == nil else {
            return sequenceError("STARTTLS not allowed during a mail transaction")
        }
        return .startTLS(SMTPReply(code: 220, enhanced: .success, text: "Ready to start TLS"))
    }

    /// The TLS handshake finished: forget everything learned in plaintext
    /// (RFC 3207 §4.2); the client must send EHLO again.
    public mutating func tlsEstablished() {
        tlsActive = true
        greeting = nil
        transaction = nil
        authenticatedUser = nil
        state = .awaitingGreeting
    }

    // MARK: message content

    /// Octets of message content arrived. Returns false once the message is
    /// over the limit, so the caller stops spooling and just reads on.
    public mutating func contentReceived(_ count: Int) -> Bool {
        guard var transaction else { return false }
        transaction.receivedSize += count
        if transaction.receivedSize > messageSizeLimit { transaction.oversized = true }
        self.transaction = transaction
        return !transaction.oversized
    }

    /// The message text has a defect: it is refused at its end (a bare CR
    /// or LF in BDAT, since relaying it would let it smuggle a message past
    /// the next hop; NUL; a long line the policy refuses). The first found counts.
    public mutating func markTextDefect(_ defect: TextDefect) {
        if transaction?.textDefect == nil { transaction?.textDefect = defect }
    }

    /// The end of DATA, or of a BDAT chunk.
    public mutating func contentEnded() -> Action {
        switch state {
        case .inData:
            return finishMessage()
        case .inChunk(let last):
            if last { return finishMessage() }
            state = .ready
            let size = transaction?.receivedSize ?? 0
            return .reply(SMTPReply(code: 250, enhanced: .success, text: "\(size) octets received"))
        default:
            return .reply(SMTPReply(code: 250, enhanced: .success, text: "Ok")) // discarded chunk
        }
    }

    private mutating func finishMessage() -> Action {
        guard let transaction else { state = .ready; return sequenceError("No transaction") }
        if transaction.oversized {
            self.transaction = nil
            state = .ready
            return .abortMessage(SMTPReply(code: 552, enhanced: EnhancedStatusCode(5, 3, 4),
                                           text: "Message size exceeds fixed maximum message size (\(messageSizeLimit) octets)"))
        }
        if let defect = transaction.textDefect {
            self.transaction = nil
            state = .ready
            return .abortMessage(defect.reply)
        }
        if transaction.needsSMTPUTF8 && !transaction.parameters.smtpUTF8 {
            self.transaction = nil
            state = .ready
            return .abortMessage(Self.needsSMTPUTF8)
        }
        state = .committing
        return .commit(transaction)
    }

    /// A bare CR or LF inside DATA (RFC 5321 §2.3.8): refuse and close, since
    /// where the message ends can no longer be trusted.
    public mutating func bareLineEnding() -> Action {
        transaction = nil
        state = .closed
        return .close([TextDefect.bareLineEnding.reply])
    }

    /// The queue made the message durable: now, and only now, 250.
    public mutating func commitSucceeded(queueID: String) -> SMTPReply {
        transaction = nil
        junkCommands = 0
        state = .ready
        return SMTPReply(code: 250, enhanced: .success, text: "Ok: queued as \(queueID)")
    }

    /// The policy refused the message at the end of data (content checks).
    public mutating func commitRefused(_ reply: SMTPReply) -> SMTPReply {
        transaction = nil
        state = .ready
        return reply
    }

    /// The queue could not store the message (disk full, permissions…).
    public mutating func commitFailed() -> SMTPReply {
        transaction = nil
        state = .ready
        return SMTPReply(code: 451, enhanced: EnhancedStatusCode(4, 3, 0), text: "Local error in processing, try again later")
    }

    /// A timer or deadline passed (RFC 5321 §4.5.3.2; see `SessionDeadlines`).
    public mutating func timedOut(_ expiry: SessionDeadlines.Expiry = .idle) -> Action {
        state = .closed
        let what = expiry == .slowTransfer ? "Data transfer too slow" : "Timeout"
        return .close([SMTPReply(code: 421, enhanced: EnhancedStatusCode(4, 4, 2),
                                 text: "\(configuration.hostname) \(what), closing connection")])
    }

    // MARK: errors

    private static let needsSMTPUTF8 = SMTPReply(code: 553, enhanced: EnhancedStatusCode(5, 6, 7),
                                                 text: "Non-ASCII address requires SMTPUTF8")

    mutating func sequenceError(_ text: String) -> Action {
        error(SMTPReply(code: 503, enhanced: .badSequence, text: text))
    }

    /// A protocol error: reply, and after too many, 421 and close.
    mutating func error(_ reply: SMTPReply) -> Action {
        errorCount += 1
        guard errorCount >= limits.maxErrors else { return .reply(reply) }
        state = .closed
        return .close([reply, SMTPReply(code: 421, enhanced: EnhancedStatusCode(4, 7, 0),
                                        text: "\(configuration.hostname) Too many errors, closing connection")])
    }
}

extension ServerSession.State {
    var isChunk: Bool {
        if case .inChunk = self { return true }
        return false
    }
}
