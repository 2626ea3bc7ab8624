import SMTPCore

/// One mail transaction on the client side (RFC 5321 §3.3): the commands
/// still to send, the replies still awaited, and what each recipient's fate
/// is so far. With PIPELINING (RFC 2920) every command up to DATA goes out at
/// once and the replies are matched in order; without it one at a time.
struct ClientTransaction: Sendable {
    /// What a reply answers.
    enum Expected: Sendable, Hashable {
        case rset
        case mail
        case rcpt(Int)
        case data
        case endOfData
        case emptyMessageEnd

        var stage: SMTPStage {
            switch self {
            case .rset: return .rset
            case .mail: return .mail
            case .rcpt: return .rcpt
            case .data: return .data
            case .endOfData, .emptyMessageEnd: return .endOfData
            }
        }
    }

    /// What the session does next.
    enum Step: Sendable, Hashable {
        case wait
        case send([ClientCommand])
        case sendBody
        case finish(closeAfter: ClientSessionStateMachine.CloseMode?)
    }

    let pipelined: Bool
    /// The DSN parameters went out with MAIL and RCPT (see `MessageOutcome`).
    let nextHopReportsDSN: Bool
    private(set) var outcomes: [RecipientOutcome?]
    var notes: [String]
    /// Commands not yet sent, each with the reply it will expect.
    private var unsent: [(ClientCommand, Expected)]
    /// Replies awaited, oldest first.
    private(set) var expected: [Expected] = []
    private var accepted: [Int] = []
    private var mailRefused = false

    /// `outcomes` holds the recipients already settled locally (nil: to send).
    init(commands: [(ClientCommand, Expected)], outcomes: [RecipientOutcome?], notes: [String], pipelined: Bool,
         nextHopReportsDSN: Bool = false) {
        self.unsent = commands
        self.outcomes = outcomes
        self.notes = notes
        self.pipelined = pipelined
        self.nextHopReportsDSN = nextHopReportsDSN
    }

    /// The commands to send first: all of them up to DATA when pipelining.
    mutating func start() -> [ClientCommand] {
        sendNext()
    }

    /// The outcome per recipient; anything left open is deferred.
    var result: MessageOutcome {
        let lost = DeliveryReason.local(EnhancedStatusCode(4, 4, 2), "no reply from the next hop", stage: .endOfData)
        return MessageOutcome(recipients: outcomes.map { $0 ?? .deferred(lost) }, notes: notes,
                              nextHopReportsDSN: nextHopReportsDSN)
    }

    /// The content has been written; the reply to the final "." is next.
    mutating func bodySent() {
        expected = [.endOfData]
    }

    /// Settles every recipient still open, e.g. after 421, a timeout or a lost connection.
    mutating func deferOpenRecipients(_ reason: DeliveryReason) {
        for index in outcomes.indices where outcomes[index] == nil { outcomes[index] = .deferred(reason) }
    }

    /// The server answered the end of the data: its transaction is over and
    /// its state cleared (RFC 5321 §4.1.1.4), so the next MAIL needs no RSET.
    private(set) var serverStateCleared = false

    mutating func receive(_ reply: SMTPReply) -> Step {
        guard !expected.isEmpty else { return protocolError(reply, stage: .endOfData) }
        let head = expected.removeFirst()
        if reply.code == 421 {
            // RFC 5321 §3.8: the server is closing; whatever is open waits for another try.
            deferOpenRecipients(.reply(reply, stage: head.stage))
            return .finish(closeAfter: .abort)
        }
        switch head {
        case .rset:
            guard reply.code / 100 == 2 else {
                deferOpenRecipients(.reply(reply, stage: .rset))
                return .finish(closeAfter: .quit)
            }
        case .mail:
            if reply.code / 100 != 2 {
                guard let outcome = RecipientOutcome.classify(reply, stage: .mail) else { return protocolError(reply, stage: .mail) }
                mailRefused = true
                for index in outcomes.indices where outcomes[index] == nil { outcomes[index] = outcome }
            }
        case .rcpt(let index):
            if mailRefused { break }
            if reply.code / 100 == 2 {
                accepted.append(index)
            } else if reply.code == 552 {
                // RFC 5321 §4.5.3.1.10: "too many recipients" is temporary, whatever the code says.
                outcomes[index] = .deferred(.reply(reply, stage: .rcpt))
            } else if let outcome = RecipientOutcome.classify(reply, stage: .rcpt) {
                outcomes[index] = outcome
            } else {
                return protocolError(reply, stage: .rcpt)
            }
        case .data:
            return dataReplied(reply)
        case .endOfData:
            let outcome: RecipientOutcome? = reply.code / 100 == 2
                ? .delivered(reply) : RecipientOutcome.classify(reply, stage: .endOfData)
            guard let outcome else { return protocolError(reply, stage: .endOfData) }
            for index in accepted { outcomes[index] = outcome }
            serverStateCleared = true
            return .finish(closeAfter: nil)
        case .emptyMessageEnd:
            serverStateCleared = true
            return .finish(closeAfter: nil)
        }
        return afterEnvelopeReply()
    }

    /// RFC 2920 §3.1: a 354 with no accepted recipient must still be ended
    /// with a lone "."; any other refusal settles the accepted recipients.
    private mutating func dataReplied(_ reply: SMTPReply) -> Step {
        let nobody = mailRefused || accepted.isEmpty
        if reply.code == 354 {
            if nobody {
                expected = [.emptyMessageEnd]
                return .send([.emptyMessageEnd])
            }
            return .sendBody
        }
        if nobody { return .finish(closeAfter: nil) }
        guard let outcome = RecipientOutcome.classify(reply, stage: .data) else { return protocolError(reply, stage: .data) }
        for index in accepted { outcomes[index] = outcome }
        return .finish(closeAfter: nil)
    }

    /// After RSET, MAIL or RCPT replies: wait for more, send the next command
    /// (without pipelining), or stop when nobody is left to send DATA for.
    private mutating func afterEnvelopeReply() -> Step {
        if !expected.isEmpty { return .wait }
        if mailRefused { return .finish(closeAfter: nil) }
        if case .data = unsent.first?.1, accepted.isEmpty { return .finish(closeAfter: nil) }
        let commands = sendNext()
        return commands.isEmpty ? .finish(closeAfter: nil) : .send(commands)
    }

    private mutating func sendNext() -> [ClientCommand] {
        var commands: [ClientCommand] = []
        while !unsent.isEmpty {
            let (command, reply) = unsent.removeFirst()
            commands.append(command)
            expected.append(reply)
            if !pipelined { break }
        }
        return commands
    }

    /// A reply of a class that makes no sense here: the dialogue is lost.
    private mutating func protocolError(_ reply: SMTPReply, stage: SMTPStage) -> Step {
        deferOpenRecipients(.local(EnhancedStatusCode(4, 5, 0), "unexpected reply \(reply)", stage: stage))
        return .finish(closeAfter: .abort)
    }
}
