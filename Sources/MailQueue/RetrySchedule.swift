import Foundation

/// When a deferred message is tried again, and when the queue gives up on it.
///
/// A pure value: no clock, no timers, no randomness of its own. The
/// scheduler hands it the facts (attempts so far, when the last one failed,
/// when the message arrived) and a random number generator, and gets back a
/// `Decision`. Tests drive it with a seeded generator.
///
/// **Backoff.** After the n-th failed attempt the next one waits
/// `minimumDelay × multiplier^(n−1)`, capped at `maximumDelay`, then
/// spread by ±`jitter` so that messages deferred together (a destination
/// that was down) do not all come back in the same second. The jittered
/// delay is clamped to `minimumDelay…maximumDelay`: an operator's bounds
/// hold exactly, and at the cap the spread is still `maximumDelay ×
/// (1 − jitter)…maximumDelay`. With the defaults the delays run 5, 10, 20,
/// 40, 80, 160 minutes, then 4 hours (each ±20 %).
///
/// **Lifetime.** Modelled on Postfix's `maximal_queue_lifetime`: a message
/// is never given up before it has been in the queue for `lifetime`, and it
/// is given up by the first attempt that fails at or after that moment.
/// Postfix lets that last attempt fall wherever the backoff puts it, so its
/// bounce can come up to one maximum delay late; here the attempt that
/// would land beyond the lifetime is pulled in to the lifetime's end
/// (but never sooner than `minimumDelay` after the previous attempt, so a
/// destination that just refused is not hammered), and the sender hears
/// of the failure when the lifetime says. A lifetime of zero means one
/// attempt only, as in Postfix.
///
/// **Delay warning.** RFC 3461 §4.1 leaves delay notices to the MTA;
/// like Postfix's `delay_warning_time` one warning DSN is sent once a
/// message has waited `delayWarningAfter` (nil turns warnings off).
///
/// Settings out of range are read in range rather than trapping (a
/// configuration mistake must not stop the daemon): negative delays as
/// zero, a multiplier below 1 as 1, jitter outside 0…1 clamped, a maximum
/// below the minimum as the minimum. Configuration checking is the place
/// to reject them.
public struct RetrySchedule: Sendable, Equatable {
    /// The shortest wait between two attempts (Postfix: `minimal_backoff_time`).
    public var minimumDelay: TimeInterval
    /// The longest wait between two attempts (Postfix: `maximal_backoff_time`).
    public var maximumDelay: TimeInterval
    /// Each failed attempt multiplies the wait by this much.
    public var multiplier: Double
    /// The fraction by which a delay is spread both ways: 0.2 is ±20 %.
    public var jitter: Double
    /// How long a message may stay in the queue before it is returned to
    /// its sender (Postfix: `maximal_queue_lifetime`, also 5 days).
    public var lifetime: TimeInterval
    /// When to tell the sender that a message is still undelivered; nil: never.
    public var delayWarningAfter: TimeInterval?

    public static let defaultMinimumDelay: TimeInterval = 5 * 60
    public static let defaultMaximumDelay: TimeInterval = 4 * 3600
    public static let defaultLifetime: TimeInterval = 5 * 86400
    public static let defaultDelayWarning: TimeInterval = 4 * 3600

    public init(minimumDelay: TimeInterval = RetrySchedule.defaultMinimumDelay,
                maximumDelay: TimeInterval = RetrySchedule.defaultMaximumDelay,
                multiplier: Double = 2,
                jitter: Double = 0.2,
                lifetime: TimeInterval = RetrySchedule.defaultLifetime,
                delayWarningAfter: TimeInterval? = RetrySchedule.defaultDelayWarning) {
        self.minimumDelay = minimumDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
        self.lifetime = lifetime
        self.delayWarningAfter = delayWarningAfter
    }

    /// What to do with a message whose latest attempt has just been deferred.
    public enum Decision: Sendable, Equatable {
        /// Try again at this moment.
        case retry(at: Date)
        /// The lifetime is over: fail the recipients still pending and send
        /// the sender a DSN.
        case expire
    }

    /// The moment the message's lifetime ends.
    public func expiry(created: Date) -> Date {
        created.addingTimeInterval(max(0, lifetime))
    }

    /// The wait after the `attempts`-th failed attempt, before jitter.
    /// `attempts` below 1 count as 1.
    public func baseDelay(after attempts: Int) -> TimeInterval {
        let lower = effectiveMinimum
        let growth = max(1, multiplier)
        guard lower > 0, growth > 1 else { return lower }
        // pow gives +infinity rather than overflowing; the cap then applies.
        let delay = lower * pow(growth, Double(max(attempts, 1) - 1))
        return min(delay, effectiveMaximum)
    }

    /// Decides when to try again after the `attempts`-th attempt (counting
    /// the one that just failed) ended at `lastAttempt`; see the type's
    /// documentation for the lifetime policy.
    public func nextAttempt(after attempts: Int, lastAttempt: Date, created: Date,
                            random: inout some RandomNumberGenerator) -> Decision {
        let end = expiry(created: created)
        guard lastAttempt < end else { return .expire }
        let lower = effectiveMinimum
        let spread = min(max(jitter, 0), 1)
        let factor = spread > 0 ? 1 + Double.random(in: -spread...spread, using: &random) : 1
        let delay = min(max(baseDelay(after: attempts) * factor, lower), effectiveMaximum)
        let next = lastAttempt.addingTimeInterval(delay)
        guard next > end else { return .retry(at: next) }
        // The last attempt: at the lifetime's end, but not hard on the heels
        // of the one that just failed.
        return .retry(at: max(end, lastAttempt.addingTimeInterval(lower)))
    }

    /// Whether to send the delay warning now: warnings are on, none was sent
    /// yet, the message has waited `delayWarningAfter`, and its lifetime is
    /// not over (then the failure DSN says it all).
    public func shouldWarnDelay(created: Date, now: Date, alreadyWarned: Bool) -> Bool {
        guard !alreadyWarned, let warningDate = delayWarningDate(created: created) else { return false }
        return now >= warningDate && now < expiry(created: created)
    }

    /// When the delay warning falls due, for a scheduler that wakes up for
    /// it; nil when warnings are off or would come only after the lifetime.
    public func delayWarningDate(created: Date) -> Date? {
        guard let after = delayWarningAfter else { return nil }
        let date = created.addingTimeInterval(max(0, after))
        return date < expiry(created: created) ? date : nil
    }

    /// The delays in force, read in range.
    private var effectiveMinimum: TimeInterval { max(0, minimumDelay) }
    private var effectiveMaximum: TimeInterval { max(effectiveMinimum, maximumDelay) }
}
