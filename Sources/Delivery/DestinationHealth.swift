import Foundation
import SMTPCore

/// Whether one next hop (address:port) is worth a connection, decided as
/// Postfix's queue manager does (qmgr_queue_throttle / _unthrottle): after
/// `deadAfter` failures in a row the destination is dead for `deadTime`
/// seconds and its messages are deferred without an attempt; then one probe
/// at a time is let through, whose success revives it and whose failure
/// marks it dead again. Any success revives it.
///
/// A pure value: the caller says what happened and when (`now`).
public struct DestinationHealth: Sendable, Hashable {
    public struct Policy: Sendable, Hashable {
        /// Failures in a row that make a destination dead; 0: never (Postfix: 1).
        public var deadAfter: Int
        /// Seconds a dead destination is left alone (Postfix: minimal_backoff_time).
        public var deadTime: TimeInterval

        public init(deadAfter: Int = 1, deadTime: TimeInterval = 300) {
            self.deadAfter = max(0, deadAfter)
            self.deadTime = max(0, deadTime)
        }
    }

    public enum State: Sendable, Hashable {
        case alive(failures: Int)
        case dead(until: Date, reason: DeliveryReason)
        /// The cool-down is over and one probe is under way.
        case probing(reason: DeliveryReason)
    }

    /// May an attempt start now?
    public enum Admission: Sendable, Hashable {
        case open
        /// Yes, as the one probe of a dead destination.
        case probe
        /// Not yet: a probe is under way; its result decides.
        case waitForProbe
        /// No: defer with this reason (`suspension(of:)` of the last error).
        case suspended(DeliveryReason)
    }

    /// What an attempt found out about the destination.
    public enum Verdict: Sendable, Hashable {
        /// It answered (whatever it said to the message).
        case reachable
        /// Refused, timed out, broke off, or refused service in its greeting.
        case unreachable(DeliveryReason)
    }

    public enum Transition: Sendable, Hashable {
        case markedDead(DeliveryReason)
        case revived(wasDeadFor: DeliveryReason)
    }

    public let policy: Policy
    public private(set) var state: State = .alive(failures: 0)

    public init(policy: Policy) {
        self.policy = policy
    }

    public mutating func admit(now: Date) -> Admission {
        switch state {
        case .alive:
            return .open
        case .dead(let until, let reason):
            guard now >= until else { return .suspended(Self.suspension(of: reason)) }
            state = .probing(reason: reason)
            return .probe
        case .probing:
            return .waitForProbe
        }
    }

    /// Records the end of an admitted attempt; says when that changes the
    /// destination's fate (for the log).
    public mutating func record(_ verdict: Verdict, now: Date) -> Transition? {
        switch (verdict, state) {
        case (.reachable, .alive):
            state = .alive(failures: 0)
            return nil
        case (.reachable, .dead(_, let reason)), (.reachable, .probing(let reason)):
            state = .alive(failures: 0)
            return .revived(wasDeadFor: reason)
        case (.unreachable(let reason), .alive(let failures)):
            guard policy.deadAfter > 0, failures + 1 >= policy.deadAfter else {
                state = .alive(failures: failures + 1)
                return nil
            }
            state = .dead(until: now.addingTimeInterval(policy.deadTime), reason: reason)
            return .markedDead(reason)
        case (.unreachable(let reason), .probing):
            state = .dead(until: now.addingTimeInterval(policy.deadTime), reason: reason)
            return .markedDead(reason)
        case (.unreachable, .dead):
            return nil // an attempt begun before the mark: already dead
        }
    }

    /// The operator flushed the queue: a dead destination gets its probe at
    /// the next attempt instead of after the cool-down (as Postfix's flush
    /// wakes dead destinations).
    public mutating func endCoolDown(now: Date) {
        if case .dead(let until, let reason) = state, until > now { state = .dead(until: now, reason: reason) }
    }

    /// An admitted attempt that never happened (shutdown): a probe is owed again.
    public mutating func abandon(now: Date) {
        if case .probing(let reason) = state { state = .dead(until: now, reason: reason) }
    }

    /// Nothing worth remembering: alive with a clean record, or dead so long
    /// ago that a second cool-down has passed too.
    public func isForgettable(now: Date) -> Bool {
        switch state {
        case .alive(let failures): return failures == 0
        case .dead(let until, _): return now >= until.addingTimeInterval(policy.deadTime)
        case .probing: return false
        }
    }

    /// The deferral for a message not tried because its destination is dead:
    /// 4.4.1 (no answer from host) or the last error's own 4.4.x (RFC 3463 §3.5).
    public static func suspension(of reason: DeliveryReason) -> DeliveryReason {
        let code = reason.statusCode
        let detail = code.subject == 4 ? code.detail : 1
        let text: String
        switch reason {
        case .reply(let reply, _): text = "\(reply)"
        case .local(_, let local, _): text = local
        }
        return .local(EnhancedStatusCode(4, 4, detail), "delivery temporarily suspended: \(text)", stage: reason.stage)
    }
}

extension DestinationHealth.Verdict {
    /// A session that could not be set up, or one whose recipients were
    /// deferred because the connection failed.
    init(setupFailure reason: DeliveryReason) {
        self = reason.isUnreachableHop ? .unreachable(reason) : .reachable
    }

    init(_ outcome: MessageOutcome) {
        for case .deferred(let reason) in outcome.recipients where reason.isUnreachableHop {
            self = .unreachable(reason)
            return
        }
        self = .reachable
    }
}

extension DeliveryReason {
    /// Says the next hop itself is not working, as Postfix's throttling
    /// failures: no answer or a broken connection (X.4.1, X.4.2: refused,
    /// timed out, lost), or service refused in the greeting. A TLS or AUTH
    /// problem, or any reply to a command, shows a working host.
    var isUnreachableHop: Bool {
        switch self {
        case .reply(_, let stage):
            return stage == .greeting
        case .local(let code, _, _):
            return code.subject == 4 && (code.detail == 1 || code.detail == 2)
        }
    }
}
