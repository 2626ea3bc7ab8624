import NIOConcurrencyHelpers

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
