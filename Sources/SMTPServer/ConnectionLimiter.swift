import NIOConcurrencyHelpers
import NIOCore

/// Counts open connections in total and per client address, shared by all
/// event loops; beyond either limit a new client gets 421 4.7.0.
public final class ConnectionLimiter: Sendable {
    private struct Counts {
        var total = 0
        var perAddress: [String: Int] = [:]
    }

    public let maxTotal: Int
    public let maxPerAddress: Int
    private let counts = NIOLockedValueBox(Counts())

    public init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
    }

    public enum Refusal: Sendable, Equatable {
        case tooManyConnections
        case tooManyFromAddress
    }

    /// Takes a slot for `address`, or says why not.
    public func acquire(_ address: String) -> Refusal? {
        counts.withLockedValue { counts in
            if counts.total >= maxTotal { return .tooManyConnections }
            let current = counts.perAddress[address, default: 0]
            if current >= maxPerAddress { return .tooManyFromAddress }
            counts.total += 1
            counts.perAddress[address] = current + 1
            return nil
        }
    }

    public func release(_ address: String) {
        counts.withLockedValue { counts in
            counts.total -= 1
            let left = counts.perAddress[address, default: 1] - 1
            counts.perAddress[address] = left > 0 ? left : nil
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
        for channel in channels.withLockedValue({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ShutdownNotice(force: false))
        }
    }

    /// The grace period is over: 421 and close, whatever the session is doing.
    public func closeAll() {
        for channel in channels.withLockedValue({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ShutdownNotice(force: true))
        }
    }

    public var count: Int { channels.withLockedValue { $0.count } }
}

/// Sent down each session's pipeline when the daemon stops.
public struct ShutdownNotice: Sendable {
    public var force: Bool
}
