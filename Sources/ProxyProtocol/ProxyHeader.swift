import DNSModel

/// What a load balancer's PROXY protocol header says about the connection it
/// relays, so a server behind it sees the original client
/// ([proxy-protocol.txt](https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt)).
public struct ProxyHeader: Sendable, Equatable {
    public enum Version: Sendable, Equatable {
        /// The text line (§2.1).
        case v1
        /// The binary block (§2.2).
        case v2
    }

    /// The relayed TCP connection as the proxy saw it.
    public struct Endpoints: Sendable, Equatable {
        public var source: IPAddress
        public var sourcePort: UInt16
        public var destination: IPAddress
        public var destinationPort: UInt16

        public init(source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16) {
            self.source = source
            self.sourcePort = sourcePort
            self.destination = destination
            self.destinationPort = destinationPort
        }
    }

    public var version: Version
    /// nil when the header names no TCP over IP connection (v1 `UNKNOWN`,
    /// v2 `LOCAL`, or an UNSPEC, UNIX or datagram family): the spec then has
    /// the receiver use the real connection's endpoints (§2.1, §2.2).
    public var endpoints: Endpoints?

    public init(version: Version, endpoints: Endpoints?) {
        self.version = version
        self.endpoints = endpoints
    }
}

/// Why the first octets of a connection are not an acceptable PROXY header;
/// the spec has the receiver abort the connection for every one (§2.1).
public enum ProxyHeaderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Neither the v1 `PROXY ` prefix nor the v2 signature.
    case notProxyProtocol
    /// v1: no CRLF within the first 107 octets.
    case lineTooLong
    /// v1: the line does not match the grammar exactly; says which part.
    case malformedLine(String)
    /// v2: the version nibble is not 2.
    case unsupportedVersion(UInt8)
    /// v2: a command other than LOCAL (0) or PROXY (1).
    case unsupportedCommand(UInt8)
    /// v2: an address family above 3 or a transport protocol above 2.
    case unsupportedFamily(UInt8)
    /// v2: the length is too short for the addresses of the family.
    case addressesTruncated(length: Int, needed: Int)
    /// v2: more TLV octets than a sane load balancer sends.
    case headerTooLong(Int)
    /// v2: a TLV runs past the end of the header.
    case malformedTLV

    public var description: String {
        switch self {
        case .notProxyProtocol: return "not a PROXY protocol header"
        case .lineTooLong: return "v1 line without CRLF in \(ProxyProtocolLimits.maxV1LineLength) octets"
        case .malformedLine(let part): return "malformed v1 line: \(part)"
        case .unsupportedVersion(let version): return "unsupported v2 version \(version)"
        case .unsupportedCommand(let command): return "unsupported v2 command \(command)"
        case .unsupportedFamily(let byte): return "unsupported v2 family/protocol 0x\(String(byte, radix: 16))"
        case .addressesTruncated(let length, let needed): return "v2 address block of \(length) octets, \(needed) needed"
        case .headerTooLong(let length): return "v2 header of \(length) octets after the fixed part is too long"
        case .malformedTLV: return "malformed v2 TLV"
        }
    }
}
