import DNSModel

/// An IPv4 or IPv6 network in CIDR form ("10.0.0.0/8", "2001:db8::/32");
/// a bare address is a single host.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let maxLength: Int
        switch address {
        case .v4: maxLength = 32
        case .v6: maxLength = 128
        }
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...maxLength).contains(length), !parts[1].hasPrefix("+") else { return nil }
            prefixLength = length
        } else {
            prefixLength = maxLength
        }
        self.address = address
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        switch (address, candidate.unmapped) {
        case (.v4(let network), .v4(let ip)):
            return ip.isInNetwork(network, prefixLength: prefixLength)
        case (.v6(let network), .v6(let ip)):
            return ip.isInNetwork(network, prefixLength: prefixLength)
        default:
            return false
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

extension Array where Element == IPNetwork {
    public func contains(_ ip: IPAddress?) -> Bool {
        guard let ip else { return false }
        return contains { $0.contains(ip) }
    }
}

extension IPAddress {
    /// The key counters use for a client: the address for IPv4, its /64
    /// for IPv6 (one site gets a /64, so counting single addresses there
    /// would let a client rotate past every limit).
    public var clientKey: String {
        switch unmapped {
        case .v4(let v4): return v4.description
        case .v6(let v6): return "\(IPv6Address(high: v6.high, low: 0))/64"
        }
    }
}
