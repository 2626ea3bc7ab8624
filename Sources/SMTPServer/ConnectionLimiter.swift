import NIOConcurrencyHelpers
import NIOCore

/// Counts open connections in total and per client address, shared by all
/// event loops; beyond either limit a new client gets 421 4.7.0.
///
/// It also says when the table is nearly full ("stress", after Postfix):
/// sessions then shorten their timers so that clients holding slots idle
/// make room for new ones. Entering and leaving are reported once each, with
/// some hysteresis so a table hovering at the threshold does not flap.
public final class ConnectionLimiter: Sendable {
    private struct Counts {
        var total = 0
        var perAddress: [String: Int] = [:]
        var stressed = false
    }

    public let maxTotal: Int
    public let maxPerAddress: Int
    /// Open connections at which stress starts (nil: never) and below which it ends.
    private let stressStart: Int?
    private let stressEnd: Int
    private let counts = NIOLockedValueBox(Counts())
    private let onStressChange: @Sendable (_ stressed: Bool, _ open: Int) -> Void

    public init(maxTotal: Int, maxPerAddress: Int, stressPercent: Int = 0,
                onStressChange: @escaping @Sendable (_ stressed: Bool, _ open: Int) -> Void = { _, _ in }) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
        let start = stressPercent > 0 ? max(1, maxTotal * stressPercent / 100) : nil
        stressStart = start
        stressEnd = start.map { $0 - max(1, $0 / 10) } ?? 0
        self.onStressChange = onStressChange
    }

    /// The table is nearly full: sessions use the stress timers.
    public var isStressed: Bool { counts.withLockedValue { $0.stressed } }

    public enum Refusal: Sendable, Equatable {
        case tooManyConnections
        case tooManyFromAddress
    }

    /// Takes a slot for `address`, or says why not.
    public func acquire(_ address: String) -> Refusal? {
        let (refusal, change) = counts.withLockedValue { counts -> (Refusal?, Int?) in
            if counts.total >= maxTotal { return (.tooManyConnections, nil) }
            let current = counts.perAddress[address, default: 0]
            if current >= maxPerAddress { return (.tooManyFromAddress, nil) }
            counts.total += 1
            counts.perAddress[address] = current + 1
            guard let stressStart, !counts.stressed, counts.total >= stressStart else { return (nil, nil) }
            counts.stressed = true
            return (nil, counts.total)
        }
        if let open = change {
            SMTPServerMetrics.stressMode.set(1)
            onStressChange(true, open)
        }
        return refusal
    }

    public func release(_ address: String) {
        let change = counts.withLockedValue { counts -> Int? in
            counts.total -= 1
            let left = counts.perAddress[address, default: 1] - 1
            counts.perAddress[address] = left > 0 ? left : nil
            guard counts.stressed, counts.total < stressEnd else { return nil }
            counts.stressed = false
            return counts.total
        }
        if let open = change {
            SMTPServerMetrics.stressMode.set(0)
            onStressChange(false, open)
        }
    }

    public var openConnections: Int { counts.withLockedValue { $0.total } }
}

/// The open sessions, so that shutdown can tell each of them (RFC 5321 §3.8:
/// a server ends a session only after QUIT, a timeout or a 421).
public final class SessionRegistry: Sendable {
    private let channels = NIOLockedValueBox([ObjectIdentifier: any Channel]())

    public init() {}

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = self.channels.withLockedValue { $0.removeValue(forKey: id) }
        }
    }

    /// Idle sessions get 421 at once; one in a transaction finishes it first.
    public func announceShutdown() {
        broadcast(ShutdownNotice(force: false))
    }

    /// The grace period is over: 421 and close, whatever the session is doing.
    public func closeAll() {
        broadcast(ShutdownNotice(force: true))
    }

    public var count: Int { channels.withLockedValue { $0.count } }

    /// Stress began or ended: every session sets its timer again.
    public func announceTimerChange() {
        broadcast(TimerChangeNotice())
    }

    private func broadcast(_ event: any Sendable) {
        for channel in channels.withLockedValue({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(event)
        }
    }
}

/// Sent down each session's pipeline when the timers in force change.
public struct TimerChangeNotice: Sendable {}

/// Sent down each session's pipeline when the daemon stops.
public struct ShutdownNotice: Sendable {
    public var force: Bool
}
