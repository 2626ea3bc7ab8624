import NIOCore

/// When a session must next hear from its client. Idle timers alone
/// (RFC 5321 §4.5.3.2) restart on every octet, so a client dripping one byte
/// every few seconds could keep its slot for hours. Here a command line must
/// be complete within the command timeout of its first octet (Postfix's
/// smtpd_per_record_deadline), and message content must keep an average
/// rate after a grace period (Postfix's smtpd_min_data_rate): the deadline
/// moves on by one second for every `minDataRate` octets received.
public struct SessionDeadlines: Sendable, Equatable {
    /// What cut the session, for the reply and the log.
    public enum Expiry: Sendable, Equatable {
        /// Nothing arrived for the idle timeout.
        case idle
        /// A command line was not completed in time.
        case commandLine
        /// Message content came in slower than the minimum rate.
        case slowTransfer
    }

    /// The timers in force; under stress every one of them is shortened.
    public struct Timers: Sendable, Equatable {
        public var command: TimeAmount
        public var data: TimeAmount
        public var rateGrace: TimeAmount
        public var minDataRate: Int

        public init(command: TimeAmount, data: TimeAmount, rateGrace: TimeAmount, minDataRate: Int) {
            self.command = command
            self.data = data
            self.rateGrace = rateGrace
            self.minDataRate = minDataRate
        }

        public init(limits: SMTPLimits, stressed: Bool) {
            let cap: TimeAmount = stressed ? .seconds(Int64(limits.stressTimeoutSeconds)) : .hours(24 * 365)
            self.init(command: min(.seconds(Int64(limits.commandTimeoutSeconds)), cap),
                      data: min(.seconds(Int64(limits.dataTimeoutSeconds)), cap),
                      rateGrace: min(.seconds(Int64(limits.dataRateGraceSeconds)), cap),
                      minDataRate: limits.minDataRate)
        }
    }

    /// The last time input arrived or a delayed reply went out.
    public private(set) var lastInput: NIODeadline
    /// The first octet of a command line not yet complete.
    public private(set) var lineStarted: NIODeadline?
    /// When the message content began (DATA's 354, the first BDAT), while a
    /// message is being received.
    public private(set) var contentStarted: NIODeadline?

    public init(now: NIODeadline) {
        lastInput = now
    }

    /// Input arrived, or a reply went out after an asynchronous check: the
    /// idle timer starts again. `partialLine`: an unfinished command line is
    /// buffered (its deadline stays where its first octet set it).
    /// `receivingContent`: a message is being transferred.
    public mutating func activity(at now: NIODeadline, partialLine: Bool, receivingContent: Bool) {
        lastInput = now
        if !partialLine { lineStarted = nil } else if lineStarted == nil { lineStarted = now }
        if !receivingContent { contentStarted = nil } else if contentStarted == nil { contentStarted = now }
    }

    /// A command line was complete: the next one gets its own deadline.
    public mutating func lineEnded() {
        lineStarted = nil
    }

    /// The next deadline and what it means. `contentOctets`: octets of the
    /// message received so far.
    public func next(timers: Timers, contentOctets: Int) -> (deadline: NIODeadline, expiry: Expiry) {
        guard let contentStarted else {
            if let lineStarted { return (lineStarted + timers.command, .commandLine) }
            return (lastInput + timers.command, .idle)
        }
        let idle = lastInput + timers.data
        guard timers.minDataRate > 0 else { return (idle, .idle) }
        // Saturating: a large message earns at most a day beyond the grace.
        let seconds = min(Double(contentOctets) / Double(timers.minDataRate), 86_400)
        let earned = TimeAmount.nanoseconds(Int64(seconds * 1_000_000_000))
        let rate = contentStarted + timers.rateGrace + earned
        return rate < idle ? (rate, .slowTransfer) : (idle, .idle)
    }
}
