import SMTPCore

/// The step of the client session a reply answered or a problem happened
/// in; each has its own timeout (RFC 5321 §4.5.3.2).
public enum SMTPStage: String, Sendable, Hashable, CustomStringConvertible {
    case connect
    case greeting
    case ehlo
    case helo
    case startTLS
    case tlsHandshake
    case auth
    case rset
    case mail
    case rcpt
    case data
    /// Writing the message content.
    case dataBlock
    /// Waiting for the reply to the final ".".
    case endOfData
    case quit
    /// Not SMTP: writing into a local Maildir (a `maildir:` route).
    case localDelivery

    public var description: String {
        switch self {
        case .connect: return "while connecting"
        case .greeting: return "in the greeting"
        case .ehlo: return "in reply to EHLO"
        case .helo: return "in reply to HELO"
        case .startTLS: return "in reply to STARTTLS"
        case .tlsHandshake: return "during the TLS handshake"
        case .auth: return "in reply to AUTH"
        case .rset: return "in reply to RSET"
        case .mail: return "in reply to MAIL FROM"
        case .rcpt: return "in reply to RCPT TO"
        case .data: return "in reply to DATA"
        case .dataBlock: return "while sending the message"
        case .endOfData: return "in reply to end of DATA"
        case .quit: return "in reply to QUIT"
        case .localDelivery: return "in local delivery"
        }
    }
}

/// Why a recipient was not delivered: the next hop's own reply, or a problem
/// found on our side or in the connection.
public enum DeliveryReason: Sendable, Hashable, CustomStringConvertible {
    /// The server's reply and the step it answered.
    case reply(SMTPReply, stage: SMTPStage)
    /// A local finding (refused connection, timeout, policy) with an RFC 3463 code.
    case local(EnhancedStatusCode, String, stage: SMTPStage)

    /// The status code for logs and delivery status notifications: the
    /// server's enhanced code, else one derived from the reply class.
    public var statusCode: EnhancedStatusCode {
        switch self {
        case .reply(let reply, _):
            return reply.enhanced ?? EnhancedStatusCode(UInt8(reply.code / 100), 0, 0)
        case .local(let code, _, _):
            return code
        }
    }

    public var stage: SMTPStage {
        switch self {
        case .reply(_, let stage), .local(_, _, let stage): return stage
        }
    }

    /// One line for the envelope's `lastReply` and the logs.
    public var description: String {
        switch self {
        case .reply(let reply, let stage): return "\(reply) (\(stage))"
        case .local(let code, let text, let stage): return "\(code) \(text) (\(stage))"
        }
    }
}

/// What happened to one recipient of one delivery attempt.
public enum RecipientOutcome: Sendable, Hashable, CustomStringConvertible {
    /// The next hop took responsibility: its reply to the end of data.
    case delivered(SMTPReply)
    /// Try again later (4xx, timeouts, lost connections, local policy).
    case deferred(DeliveryReason)
    /// Permanent failure (5xx, or a local check that can never pass): bounce.
    case failed(DeliveryReason)

    public var isDelivered: Bool { if case .delivered = self { true } else { false } }
    public var isDeferred: Bool { if case .deferred = self { true } else { false } }
    public var isFailed: Bool { if case .failed = self { true } else { false } }

    public var description: String {
        switch self {
        case .delivered(let reply): return "delivered: \(reply)"
        case .deferred(let reason): return "deferred: \(reason)"
        case .failed(let reason): return "failed: \(reason)"
        }
    }

    /// A 4xx reply defers, a 5xx fails; nil for a code that does not end a
    /// recipient (2xx, 3xx).
    static func classify(_ reply: SMTPReply, stage: SMTPStage) -> RecipientOutcome? {
        if reply.isTransient { return .deferred(.reply(reply, stage: stage)) }
        if reply.isPermanent { return .failed(.reply(reply, stage: stage)) }
        return nil
    }
}

/// The result of one message on one connection.
public struct MessageOutcome: Sendable, Hashable {
    /// One outcome per recipient, in the order of `OutboundMessage.recipients`.
    public var recipients: [RecipientOutcome]
    /// Things worth logging that changed nothing, e.g. an 8-bit body sent to
    /// a server without 8BITMIME.
    public var notes: [String]
    /// The next hop offered DSN (RFC 3461) and got the DSN parameters: it
    /// reports on the delivered recipients, not Postern.
    public var nextHopReportsDSN: Bool

    public init(recipients: [RecipientOutcome], notes: [String] = [], nextHopReportsDSN: Bool = false) {
        self.recipients = recipients
        self.notes = notes
        self.nextHopReportsDSN = nextHopReportsDSN
    }

    /// Every recipient deferred for the same reason (connection problems).
    public static func deferredAll(_ count: Int, _ reason: DeliveryReason) -> MessageOutcome {
        MessageOutcome(recipients: Array(repeating: .deferred(reason), count: count))
    }
}
