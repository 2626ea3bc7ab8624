import DNSModel
import NIOCore
import Testing
@testable import ProxyProtocol

/// Decodes `bytes` at once; the header and what is left, or the error.
func decodeAll(_ bytes: [UInt8]) -> (result: Result<ProxyHeader?, ProxyHeaderError>, left: Int) {
    var buffer = ByteBuffer(bytes: bytes)
    let result = Result { () throws(ProxyHeaderError) in try ProxyHeaderDecoder.decode(&buffer) }
    return (result, buffer.readableBytes)
}

func endpoints(_ source: String, _ sourcePort: UInt16, _ destination: String, _ destinationPort: UInt16) -> ProxyHeader.Endpoints {
    .init(source: IPAddress(source)!, sourcePort: sourcePort, destination: IPAddress(destination)!, destinationPort: destinationPort)
}

struct ProxyHeaderV1Tests {
    static let valid: [(line: String, endpoints: ProxyHeader.Endpoints?)] = [
        ("PROXY TCP4 192.168.0.1 192.168.0.11 56324 25\r\n", endpoints("192.168.0.1", 56324, "192.168.0.11", 25)),
        ("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
         endpoints("255.255.255.255", 65535, "255.255.255.255", 65535)),
        ("PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", endpoints("0.0.0.0", 0, "10.0.0.1", 0)),
        ("PROXY TCP6 2001:db8::1 2001:DB8::2 1234 587\r\n", endpoints("2001:db8::1", 1234, "2001:db8::2", 587)),
        ("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
         endpoints("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)),
        ("PROXY UNKNOWN\r\n", nil),
        // The worst case of §2.1: 107 octets, the rest of an UNKNOWN line ignored.
        ("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", nil),
        ("PROXY UNKNOWN whatever \u{1} follows\r\n", nil),
    ]

    @Test(arguments: valid)
    func decodesValidLine(_ line: String, _ expected: ProxyHeader.Endpoints?) throws {
        let (result, left) = decodeAll(Array((line + "EHLO x\r\n").utf8))
        #expect(try result.get() == ProxyHeader(version: .v1, endpoints: expected))
        #expect(left == 8, "the octets after the header stay for the session")
    }

    static let invalid: [(line: String, error: ProxyHeaderError)] = [
        ("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", .notProxyProtocol),
        ("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", .malformedLine("protocol must be TCP4, TCP6 or UNKNOWN")),
        ("PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", .notProxyProtocol),
        ("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", .malformedLine("protocol must be TCP4, TCP6 or UNKNOWN")),
        ("PROXY UNKNOWNX\r\n", .malformedLine("protocol must be TCP4, TCP6 or UNKNOWN")),
        ("PROXY \r\n", .malformedLine("protocol must be TCP4, TCP6 or UNKNOWN")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", .malformedLine("expected addresses and ports after TCP4")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", .malformedLine("expected addresses and ports after TCP4")),
        ("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", .malformedLine("expected addresses and ports after TCP4")),
        ("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", .malformedLine("bad IPv4 address")),
        ("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", .malformedLine("bad IPv4 address")),
        ("PROXY TCP4 ::1 ::1 1 2\r\n", .malformedLine("bad IPv4 address")),
        ("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", .malformedLine("bad IPv6 address")),
        ("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", .malformedLine("bad IPv6 address")),
        ("PROXY TCP6 1::2::3 ::1 1 2\r\n", .malformedLine("bad IPv6 address")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", .malformedLine("bad port")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", .malformedLine("bad port")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", .malformedLine("bad port")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", .malformedLine("bad port")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", .malformedLine("LF without CR")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n", .malformedLine("CR without LF")),
        ("PROXY UNKNOWN a\nb\r\n", .malformedLine("LF without CR")),
        // 106 octets and CRLF: one past the limit.
        ("PROXY UNKNOWN " + String(repeating: "f", count: 92) + "\r\n", .lineTooLong),
        ("PROXY UNKNOWN " + String(repeating: "f", count: 200), .lineTooLong),
        ("EHLO client.example\r\n", .notProxyProtocol),
    ]

    @Test(arguments: invalid)
    func refusesInvalidLine(_ line: String, _ expected: ProxyHeaderError) {
        let (result, left) = decodeAll(Array(line.utf8))
        #expect(throws: expected) { try result.get() }
        #expect(left == line.utf8.count, "nothing consumed")
    }

    /// Every beginning of a valid line is a valid beginning: nothing is
    /// consumed until the CRLF is in.
    @Test(arguments: valid.map(\.line))
    func waitsForTheWholeLine(_ line: String) throws {
        let bytes = Array(line.utf8)
        for count in 0..<bytes.count {
            let (result, left) = decodeAll(Array(bytes.prefix(count)))
            #expect(try result.get() == nil, "after \(count) octets")
            #expect(left == count)
        }
    }

    @Test func refusesAWrongPrefixBeforeTheLineEnds() {
        #expect(throws: ProxyHeaderError.notProxyProtocol) { try decodeAll(Array("PROXX".utf8)).result.get() }
        #expect(throws: ProxyHeaderError.notProxyProtocol) { try decodeAll(Array("QUIT".utf8)).result.get() }
    }
}
