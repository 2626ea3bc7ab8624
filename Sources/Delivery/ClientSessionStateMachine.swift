import Foundation
import SMTPCore

/// What the client learnt while setting the session up.
public struct SessionInfo: Sendable, Hashable {
    public var greeting: SMTPReply
    /// Empty when the server was greeted with HELO.
    public var capabilities: ServerCapabilities
    /// EHLO was accepted (false: HELO fallback).
    public var esmtp: Bool
    public var tls: Bool
    public var authenticated: Bool
    /// The negotiated protocol ("TLSv1.3"), filled in by the handler, which
    /// can ask the TLS handler; nil without TLS.
    public var tlsVersion: String?
    /// The cipher suite's IANA name, read from the ServerHello.
    public var tlsCipher: String?
}

/// The client side of an SMTP session as a pure value: it is told what the
/// server said and what the caller wants, and answers with the one thing to
/// do next. No sockets, no clocks: `SMTPClientHandler` carries the actions
/// out and reports timeouts, TLS results and lost connections back.
///
/// Session: greeting → EHLO (HELO when EHLO gets 5xx, RFC 5321 §4.1.4) →
/// STARTTLS per policy and EHLO again (RFC 3207 §4.2) → AUTH PLAIN or LOGIN
/// (RFC 4954) → ready. Each message then runs as a `ClientTransaction`,
/// preceded by RSET when the one before it on the connection ended before
/// its data did (a refused sender or recipients); QUIT at the end.
public struct ClientSessionStateMachine: Sendable {
    public enum CloseMode: Sendable, Hashable {
        /// Write QUIT, then close without waiting for the answer.
        case quit
        /// Close at once (the server closes, or the stream is not trusted).
        case abort
    }

    public enum Action: Sendable, Hashable {
        case none
        case send([ClientCommand])
        /// Put TLS in front of the pipeline, then call `tlsStarted()` (or `tlsFailed(_:)`).
        case startTLS
        /// Write the dot-stuffed content and the final ".", then call `bodySent()`.
        case sendBody
        /// The session is set up: messages may be sent.
        case ready(SessionInfo)
        case finishMessage(MessageOutcome, closeAfter: CloseMode?)
        /// Setting the session up failed; nothing was sent.
        case failSession(DeliveryReason, close: CloseMode)
        /// The connection is finished: close it.
        case closed
    }

    enum State: Sendable {
        case greeting
        case ehlo(afterTLS: Bool)
        case helo
        case startTLS
        case tlsHandshake
        case authPlain
        /// 0: awaiting the user name challenge, 1: the password one, 2: the result.
        case authLogin(step: Int)
        case ready
        case transaction(ClientTransaction)
        case sendingBody(ClientTransaction)
        case quitting
        case closed
    }

    public let options: ClientOptions
    private(set) var state: State = .greeting
    private var greeting: SMTPReply?
    private var capabilities = ServerCapabilities()
    private var esmtp = false
    private var tlsActive = false
    private var startTLSRefused = false
    private var authenticated = false
    /// The last transaction ended before the server answered its data
    /// (MAIL or every RCPT refused, DATA refused): RSET before the next.
    /// After a completed one the server has already reset (RFC 5321
    /// §4.1.1.4), so a reused connection goes straight to MAIL.
    private var needsReset = false

    public init(options: ClientOptions) {
        self.options = options
    }

    /// The reply awaited now, which picks the timeout; nil when idle.
    public var awaiting: SMTPStage? {
        switch state {
        case .greeting: return .greeting
        case .ehlo: return .ehlo
        case .helo: return .helo
        case .startTLS: return .startTLS
        case .tlsHandshake: return .tlsHandshake
        case .authPlain, .authLogin: return .auth
        case .transaction(let transaction): return transaction.expected.first?.stage
        case .sendingBody: return .dataBlock
        case .quitting: return .quit
        case .ready, .closed: return nil
        }
    }

    public var isReady: Bool { if case .ready = state { true } else { false } }
    public var isClosed: Bool { if case .closed = state { true } else { false } }

    // MARK: replies

    public mutating func receive(_ reply: SMTPReply) -> Action {
        switch state {
        case .greeting:
            greeting = reply
            guard reply.code == 220 else { return failSession(.reply(reply, stage: .greeting), close: reply.code == 421 ? .abort : .quit) }
            state = .ehlo(afterTLS: false)
            return .send([.ehlo(options.heloName)])
        case .ehlo(let afterTLS):
            if reply.code / 100 == 2 {
                capabilities = ServerCapabilities(ehloReply: reply)
                esmtp = true
                return continueSetup()
            }
            if reply.isPermanent && !afterTLS {
                state = .helo
                return .send([.helo(options.heloName)])
            }
            return failSession(.reply(reply, stage: .ehlo), close: reply.code == 421 ? .abort : .quit)
        case .helo:
            guard reply.code / 100 == 2 else { return failSession(.reply(reply, stage: .helo), close: reply.code == 421 ? .abort : .quit) }
            capabilities = ServerCapabilities()
            return continueSetup()
        case .startTLS:
            if reply.code == 220 {
                state = .tlsHandshake
                return .startTLS
            }
            if options.tlsPolicy == .required || reply.code == 421 {
                return failSession(.reply(reply, stage: .startTLS), close: reply.code == 421 ? .abort : .quit)
            }
            startTLSRefused = true
            return continueSetup()
        case .authPlain, .authLogin:
            return authReplied(reply)
        case .transaction(var transaction):
            let step = transaction.receive(reply)
            return perform(step, transaction)
        case .quitting, .ready:
            // An answer to QUIT, or an unsolicited one (typically 421 before an idle close).
            state = .closed
            return .closed
        case .tlsHandshake where tlsActive:
            state = .ehlo(afterTLS: true)
            return receive(reply)
        case .tlsHandshake, .sendingBody:
            return protocolFailure("reply \(reply) while no reply was due")
        case .closed:
            return .none
        }
    }

    // MARK: setup

    /// After EHLO/HELO (or a declined STARTTLS): TLS, then AUTH, then ready.
    private mutating func continueSetup() -> Action {
        if !tlsActive && !startTLSRefused && options.tlsPolicy != .none {
            if capabilities.startTLS {
                state = .startTLS
                return .send([.startTLS])
            }
            if options.tlsPolicy == .required {
                let why = options.dane != nil ? "DANE (TLSA records) requires TLS" : "TLS is required"
                return failSession(.local(EnhancedStatusCode(4, 7, 4), "\(why), but was not offered by the next hop",
                                          stage: esmtp ? .ehlo : .helo), close: .quit)
            }
        }
        if let credentials = options.credentials, !authenticated {
            return startAuth(credentials)
        }
        state = .ready
        return .ready(SessionInfo(greeting: greeting ?? SMTPReply(code: 220, text: ""), capabilities: capabilities,
                                  esmtp: esmtp, tls: tlsActive, authenticated: authenticated))
    }

    private mutating func startAuth(_ credentials: ClientCredentials) -> Action {
        guard tlsActive || options.allowPlaintextAuth else {
            return failSession(.local(EnhancedStatusCode(4, 7, 0), "not sending AUTH credentials without TLS", stage: .auth),
                               close: .quit)
        }
        let mechanisms = capabilities.authMechanisms
        if mechanisms.contains("PLAIN") {
            state = .authPlain
            let response = Self.base64("\0\(credentials.user)\0\(credentials.password)")
            return .send([.auth(mechanism: "PLAIN", initialResponse: response)])
        }
        if mechanisms.contains("LOGIN") {
            state = .authLogin(step: 0)
            return .send([.auth(mechanism: "LOGIN", initialResponse: nil)])
        }
        let offered = mechanisms.isEmpty ? "none" : mechanisms.sorted().joined(separator: " ")
        return failSession(.local(EnhancedStatusCode(4, 7, 0), "no AUTH mechanism we support (offered: \(offered))",
                                  stage: .auth), close: .quit)
    }

    private mutating func authReplied(_ reply: SMTPReply) -> Action {
        if case .authLogin(let step) = state, step < 2, reply.code == 334, let credentials = options.credentials {
            state = .authLogin(step: step + 1)
            return .send([.authResponse(Self.base64(step == 0 ? credentials.user : credentials.password))])
        }
        if case .authLogin(let step) = state, step < 2 {
            return failSession(.reply(reply, stage: .auth), close: reply.code == 421 ? .abort : .quit)
        }
        guard reply.code / 100 == 2 else {
            return failSession(.reply(reply, stage: .auth), close: reply.code == 421 ? .abort : .quit)
        }
        authenticated = true
        return continueSetup()
    }

    /// TLS is in front of the pipeline and holds writes until its handshake
    /// is done: EHLO goes out now (RFC 3207 §4.2: forget what was learnt).
    /// The state stays `tlsHandshake` until the EHLO reply, the first thing
    /// read over TLS, shows the handshake worked.
    public mutating func tlsStarted() -> Action {
        guard case .tlsHandshake = state, !tlsActive else { return .none }
        tlsActive = true
        capabilities = ServerCapabilities()
        return .send([.ehlo(options.heloName)])
    }

    public mutating func tlsFailed(_ description: String) -> Action {
        failSession(.local(EnhancedStatusCode(4, 7, 5), "TLS failed: \(description)", stage: .tlsHandshake), close: .abort)
    }

    private mutating func failSession(_ reason: DeliveryReason, close: CloseMode) -> Action {
        state = .closed
        return .failSession(reason, close: close)
    }

    static func base64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
    }
}

extension ClientSessionStateMachine {
    // MARK: messages

    /// Starts a transaction for `message`; only when `isReady`.
    public mutating func startMessage(_ message: OutboundMessage) -> Action {
        guard case .ready = state else {
            let reason = DeliveryReason.local(EnhancedStatusCode(4, 4, 2), "connection is not ready for a message", stage: .mail)
            return .finishMessage(.deferredAll(message.recipients.count, reason), closeAfter: nil)
        }
        let plan = MessagePlan(message: message, capabilities: capabilities, ourLimit: options.maxMessageSize)
        guard plan.outcomes.contains(where: { $0 == nil }) else {
            return .finishMessage(MessageOutcome(recipients: plan.outcomes.map { $0! }, notes: plan.notes,
                                                 nextHopReportsDSN: plan.passesDSN), closeAfter: nil)
        }
        var commands: [(ClientCommand, ClientTransaction.Expected)] = needsReset ? [(.rset, .rset)] : []
        commands.append((.mail(from: message.sender, parameters: plan.mailParameters), .mail))
        for (index, outcome) in plan.outcomes.enumerated() where outcome == nil {
            commands.append((.rcpt(to: message.recipients[index], parameters: plan.recipientParameters[index]), .rcpt(index)))
        }
        commands.append((.data, .data))
        var transaction = ClientTransaction(commands: commands, outcomes: plan.outcomes, notes: plan.notes,
                                            pipelined: capabilities.pipelining, nextHopReportsDSN: plan.passesDSN)
        let first = transaction.start()
        state = .transaction(transaction)
        return .send(first)
    }

    /// The content and the final "." have been written.
    public mutating func bodySent() -> Action {
        guard case .sendingBody(var transaction) = state else { return .none }
        transaction.bodySent()
        state = .transaction(transaction)
        return .none
    }

    /// The content could not be read or written: the transaction cannot be
    /// ended cleanly, so the connection is dropped (the server discards it).
    public mutating func bodyFailed(_ description: String) -> Action {
        abortTransaction(.local(EnhancedStatusCode(4, 3, 0), "cannot send the message: \(description)", stage: .dataBlock))
    }

    /// Ends the session politely (only between messages).
    public mutating func quit() -> Action {
        guard case .ready = state else {
            state = .closed
            return .closed
        }
        state = .quitting
        return .send([.quit])
    }

    /// The timer for `awaiting` ran out.
    public mutating func timedOut() -> Action {
        guard let stage = awaiting else { return .none }
        if case .quitting = state {
            state = .closed
            return .closed
        }
        let seconds = options.timeouts.timeout(for: stage).nanoseconds / 1_000_000_000
        return abortTransaction(.local(EnhancedStatusCode(4, 4, 2), "timed out after \(seconds) s", stage: stage))
    }

    /// The peer closed the connection or it broke.
    public mutating func connectionClosed(_ detail: String = "lost connection") -> Action {
        switch state {
        case .ready, .quitting:
            state = .closed
            return .closed
        case .closed:
            return .none
        default:
            return abortTransaction(.local(EnhancedStatusCode(4, 4, 2), detail, stage: awaiting ?? .connect))
        }
    }

    /// The server's bytes could not be read as replies.
    public mutating func protocolError(_ error: ReplyParseError) -> Action {
        protocolFailure(error.description)
    }

    private mutating func protocolFailure(_ text: String) -> Action {
        if case .ready = state {
            state = .closed
            return .closed
        }
        return abortTransaction(.local(EnhancedStatusCode(4, 5, 0), "protocol error: \(text)", stage: awaiting ?? .connect))
    }

    /// Ends whatever is in progress with `reason` and drops the connection.
    private mutating func abortTransaction(_ reason: DeliveryReason) -> Action {
        switch state {
        case .transaction(var transaction), .sendingBody(var transaction):
            transaction.deferOpenRecipients(reason)
            state = .closed
            return .finishMessage(transaction.result, closeAfter: .abort)
        case .ready, .quitting, .closed:
            state = .closed
            return .closed
        default:
            return failSession(reason, close: .abort)
        }
    }

    private mutating func perform(_ step: ClientTransaction.Step, _ transaction: ClientTransaction) -> Action {
        switch step {
        case .wait:
            state = .transaction(transaction)
            return .none
        case .send(let commands):
            state = .transaction(transaction)
            return .send(commands)
        case .sendBody:
            state = .sendingBody(transaction)
            return .sendBody
        case .finish(let closeAfter):
            state = closeAfter == nil ? .ready : .closed
            needsReset = !transaction.serverStateCleared
            return .finishMessage(transaction.result, closeAfter: closeAfter)
        }
    }
}
