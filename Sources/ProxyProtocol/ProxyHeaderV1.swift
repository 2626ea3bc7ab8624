import DNSModel

/// The human-readable header (proxy-protocol.txt §2.1):
///
///     "PROXY" SP ( "TCP4" | "TCP6" ) SP src-addr SP dst-addr SP src-port SP dst-port CRLF
///     "PROXY" SP "UNKNOWN" *( any octet but CR and LF ) CRLF
///
/// at most 107 octets, each separator exactly one space, no leading zeroes.
enum ProxyHeaderV1 {
    static let prefix = Array("PROXY ".utf8)
    private static let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), space = UInt8(ascii: " ")

    /// The header and the octets it took (CRLF included); nil until the CRLF is in.
    static func parse(_ bytes: [UInt8]) throws(ProxyHeaderError) -> (header: ProxyHeader, length: Int)? {
        guard bytes.agrees(with: prefix) else { throw .notProxyProtocol }
        guard let end = try lineEnd(bytes) else { return nil }
        return (try fields(bytes[prefix.count..<end]), end + 2)
    }

    /// Where the CRLF starts. A CR or LF alone is an error ("must not tolerate
    /// a single CR or LF"), and so is a CRLF ending past octet 107.
    private static func lineEnd(_ bytes: [UInt8]) throws(ProxyHeaderError) -> Int? {
        for index in bytes.indices {
            if bytes[index] == lf { throw .malformedLine("LF without CR") }
            guard bytes[index] == cr else { continue }
            guard index + 1 < ProxyProtocolLimits.maxV1LineLength else { throw .lineTooLong }
            guard index + 1 < bytes.count else { return nil }
            guard bytes[index + 1] == lf else { throw .malformedLine("CR without LF") }
            return index
        }
        if bytes.count >= ProxyProtocolLimits.maxV1LineLength { throw .lineTooLong }
        return nil
    }

    /// The fields after "PROXY ", without the CRLF.
    private static func fields(_ line: ArraySlice<UInt8>) throws(ProxyHeaderError) -> ProxyHeader {
        let fields = line.split(separator: space, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        // UNKNOWN: "the receiver must ignore anything presented before the CRLF".
        if fields[0] == "UNKNOWN" { return ProxyHeader(version: .v1, endpoints: nil) }
        let isIPv6: Bool
        switch fields[0] {
        case "TCP4": isIPv6 = false
        case "TCP6": isIPv6 = true
        default: throw .malformedLine("protocol must be TCP4, TCP6 or UNKNOWN")
        }
        guard fields.count == 5 else { throw .malformedLine("expected addresses and ports after \(fields[0])") }
        let source = try address(fields[1], isIPv6: isIPv6)
        let destination = try address(fields[2], isIPv6: isIPv6)
        return ProxyHeader(version: .v1, endpoints: .init(source: source, sourcePort: try port(fields[3]),
                                                          destination: destination, destinationPort: try port(fields[4])))
    }

    /// IPv4 as four decimal numbers without leading zeroes (DNSModel's parser
    /// is that strict); IPv6 as hex groups with at most one "::", not the
    /// dotted-quad tail the spec does not list.
    private static func address(_ text: String, isIPv6: Bool) throws(ProxyHeaderError) -> IPAddress {
        if isIPv6 {
            guard !text.contains("."), let address = IPv6Address(text) else { throw .malformedLine("bad IPv6 address") }
            return .v6(address)
        }
        guard let address = IPv4Address(text) else { throw .malformedLine("bad IPv4 address") }
        return .v4(address)
    }

    /// A decimal port in 0...65535 without leading zeroes.
    private static func port(_ text: String) throws(ProxyHeaderError) -> UInt16 {
        let digits = Array(text.utf8)
        guard (1...5).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }),
              digits.count == 1 || digits[0] != UInt8(ascii: "0"), let port = UInt16(text) else {
            throw .malformedLine("bad port")
        }
        return port
    }
}
