import SMTPCore

/// One POP3 session as a value: it takes commands and the outcomes of the
/// server's work (password checks, opening the maildrop, UPDATE) and
/// returns what to do next, so every rule of RFC 1939 §§3–6, RFC 2449 and
/// RFC 2595 is tested without a socket.
///
///     AUTHORIZATION ──login──▶ TRANSACTION ──QUIT──▶ UPDATE ──▶ closed
///
/// Deletions are marks until QUIT in TRANSACTION; a session that ends any
/// other way (timeout, dropped connection, shutdown) deletes nothing.
public struct POP3Session: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var hostname: String
        /// STLS is offered (the listener has a certificate).
        public var tlsAvailable: Bool
        /// USER/PASS and AUTH before TLS (RFC 2595 §2.2 says no by default).
        public var allowPlaintextAuth: Bool
        public var limits: POP3Limits

        public init(hostname: String, tlsAvailable: Bool, allowPlaintextAuth: Bool, limits: POP3Limits = POP3Defaults.limits) {
            self.hostname = hostname
            self.tlsAvailable = tlsAvailable
            self.allowPlaintextAuth = allowPlaintextAuth
            self.limits = limits
        }
    }

    public enum State: Sendable, Equatable {
        /// Before login; `user` once USER was accepted.
        case authorization(user: String?)
        /// AUTH sent "+ ": the next line is the client's SASL response.
        case saslResponse
        /// The server checks a password.
        case checkingCredentials(user: String)
        /// Credentials were good; the server opens and locks the maildrop.
        case opening(user: String)
        case transaction
        /// QUIT in TRANSACTION: the server removes the marked messages.
        case update
        case closed
    }

    /// What the server does next.
    public enum Action: Sendable, Equatable {
        case reply(POP3Reply)
        case listing(POP3Listing)
        /// Sends the reply, then closes the connection.
        case close(POP3Reply)
        /// Sends the reply, then starts the TLS handshake (RFC 2595 §4).
        case startTLS(POP3Reply)
        /// The empty "+ " continuation of RFC 5034 §4.
        case saslChallenge
        /// Check the password; answer with `authenticationFinished`.
        case verify(SASLCredentials)
        /// Lock and read the maildrop; answer with `maildropOpened` or `maildropFailed`.
        case openMaildrop(user: String)
        /// Send the message (`bodyLines` nil: RETR, else TOP) after `retrievalReply`.
        case retrieve(POP3Message, number: Int, bodyLines: Int?)
        /// DELE marked a message (for the log); send the reply.
        case markedDeleted(POP3Message, number: Int, POP3Reply)
        /// Remove these messages; answer with `updateFinished`.
        case update([POP3Message])
    }

    /// How a password check went (the throttle's refusal looks like `invalid`
    /// to the client, RFC 3206 §4's [AUTH] either way).
    public enum AuthResult: Sendable, Equatable {
        case valid
        /// `limitReached`: the address used up its failures; close.
        case invalid(limitReached: Bool)
        /// The password file cannot be read: the server's fault.
        case unavailable
    }

    public enum MaildropFailure: Sendable, Equatable {
        /// Another session holds this user's maildrop (RFC 2449 [IN-USE]).
        case inUse
        case unavailable
    }

    public let configuration: Configuration
    public private(set) var state: State = .authorization(user: nil)
    public private(set) var tlsActive: Bool
    public private(set) var maildrop = POP3Maildrop(messages: [])
    public private(set) var authenticatedUser: String?
    private var authFailures = 0
    private var badCommands = 0

    /// `tlsActive`: the connection came in on an implicit-TLS listener.
    public init(configuration: Configuration, tlsActive: Bool = false) {
        self.configuration = configuration
        self.tlsActive = tlsActive
    }

    /// RFC 1939 §4; no APOP timestamp, as APOP is not offered.
    public var greeting: POP3Reply { .ok("\(configuration.hostname) POP3 server ready") }

    public var isAwaitingSASLResponse: Bool { state == .saslResponse }

    /// Credentials may cross this connection.
    var authAllowed: Bool { tlsActive || configuration.allowPlaintextAuth }

    public mutating func receive(_ command: POP3Command) -> Action {
        switch state {
        case .authorization(let user): return authorization(command, user: user)
        case .transaction: return transaction(command)
        case .saslResponse, .checkingCredentials, .opening, .update, .closed:
            // The server reads nothing while it works; a line here is a bug.
            return .reply(.err("Busy", code: .systemTemporary))
        }
    }

    public mutating func receive(_ error: POP3ParseError) -> Action {
        badCommand(.err(error.text))
    }

    /// A line over `maxLineLength` was read and thrown away.
    public mutating func lineTooLong() -> Action {
        if state == .saslResponse {
            state = .authorization(user: nil)
            return .reply(.err("Authentication response too long"))
        }
        return badCommand(.err("Line too long"))
    }

    /// The autologout timer ran out (RFC 1939 §3): no UPDATE.
    public mutating func timedOut() -> Action {
        state = .closed
        return .close(.err("Autologout: idle for too long"))
    }

    /// The daemon stops: no UPDATE, the client may come back.
    public mutating func shuttingDown() -> Action {
        state = .closed
        return .close(.err("Server shutting down, try again later", code: .systemTemporary))
    }

    /// The TLS handshake began after STLS: whatever USER said is forgotten.
    public mutating func tlsEstablished() {
        tlsActive = true
        state = .authorization(user: nil)
    }

    mutating func badCommand(_ reply: POP3Reply) -> Action {
        badCommands += 1
        guard badCommands < configuration.limits.maxBadCommands else {
            state = .closed
            return .close(.err("Too many bad commands"))
        }
        return .reply(reply)
    }

    // MARK: TRANSACTION (RFC 1939 §5)

    private mutating func transaction(_ command: POP3Command) -> Action {
        switch command {
        case .stat:
            return .reply(.ok("\(maildrop.listedCount) \(maildrop.listedOctets)"))
        case .list(nil):
            return .listing(POP3Listing(.ok("\(maildrop.listedCount) messages (\(maildrop.listedOctets) octets)"),
                                        lines: maildrop.listed.map { "\($0.number) \($0.message.size)" }))
        case .list(let number?):
            return lookUp(number) { .reply(.ok("\(number) \($0.size)")) }
        case .uidl(nil):
            return .listing(POP3Listing(.ok("Unique-ID listing follows"),
                                        lines: maildrop.listed.map { "\($0.number) \($0.message.uniqueID)" }))
        case .uidl(let number?):
            return lookUp(number) { .reply(.ok("\(number) \($0.uniqueID)")) }
        case .retr(let number):
            return lookUp(number) { .retrieve($0, number: number, bodyLines: nil) }
        case .top(let number, let lines):
            return lookUp(number) { .retrieve($0, number: number, bodyLines: lines) }
        case .dele(let number):
            switch maildrop.markDeleted(number) {
            case .success(let message): return .markedDeleted(message, number: number, .ok("Message \(number) deleted"))
            case .failure(let miss): return .reply(Self.reply(for: miss, number: number))
            }
        case .noop:
            return .reply(.ok(""))
        case .rset:
            maildrop.unmarkAll()
            return .reply(.ok("Maildrop has \(maildrop.listedCount) messages (\(maildrop.listedOctets) octets)"))
        case .quit:
            let marked = maildrop.markedMessages
            guard !marked.isEmpty else { return signOff() }
            state = .update
            return .update(marked)
        case .capa:
            return .listing(capabilities)
        case .user, .pass, .auth, .stls:
            return badCommand(.err("Already logged in"))
        }
    }

    private func lookUp(_ number: Int, _ found: (POP3Message) -> Action) -> Action {
        switch maildrop.message(number) {
        case .success(let message): return found(message)
        case .failure(let miss): return .reply(Self.reply(for: miss, number: number))
        }
    }

    private static func reply(for miss: POP3Maildrop.Miss, number: Int) -> POP3Reply {
        switch miss {
        case .noSuchMessage: .err("No such message")
        case .deleted: .err("Message \(number) already deleted")
        }
    }

    /// The first line before a message's text: RETR's size, or TOP's notice.
    public func retrievalReply(_ message: POP3Message, bodyLines: Int?) -> POP3Reply {
        bodyLines == nil ? .ok("\(message.size) octets") : .ok("Top of message follows")
    }

    /// RETR or TOP could not read the message: gone since login (expunged
    /// by another session) or a disk fault.
    public func retrievalFailed(gone: Bool) -> POP3Reply {
        gone ? .err("Message no longer available") : .err("Cannot read the message", code: .systemTemporary)
    }

    /// UPDATE is over (RFC 1939 §6): -ERR when some marked message stayed.
    public mutating func updateFinished(notRemoved: Int) -> Action {
        guard notRemoved == 0 else {
            state = .closed
            return .close(.err("\(notRemoved) deleted messages not removed", code: .systemTemporary))
        }
        return signOff()
    }

    private mutating func signOff() -> Action {
        let left = maildrop.listedCount
        state = .closed
        return .close(.ok("\(configuration.hostname) POP3 server signing off (\(left == 0 ? "maildrop empty" : "\(left) messages left"))"))
    }

    /// RFC 2449 §5; what needs AUTHORIZATION (and, for credentials, TLS or
    /// `allowPlaintextAuth`) is listed only there.
    var capabilities: POP3Listing {
        var lines = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if case .authorization = state {
            if authAllowed { lines += ["USER", "SASL PLAIN"] }
            if configuration.tlsAvailable && !tlsActive { lines.append("STLS") }
        }
        return POP3Listing(.ok("Capability list follows"), lines: lines)
    }

    mutating func countAuthFailure() -> Bool {
        authFailures += 1
        return authFailures >= configuration.limits.maxAuthFailures
    }

    mutating func setState(_ newState: State) { state = newState }

    mutating func loggedIn(_ user: String, maildrop: POP3Maildrop) {
        authenticatedUser = user
        self.maildrop = maildrop
        state = .transaction
    }
}
