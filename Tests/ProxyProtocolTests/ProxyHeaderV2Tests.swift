import DNSModel
import NIOCore
import Testing
@testable import ProxyProtocol

/// A v2 header: signature, version/command, family/transport, length, `body`.
func v2(_ versionCommand: UInt8 = 0x21, _ family: UInt8 = 0x11, _ body: [UInt8], length: Int? = nil) -> [UInt8] {
    let length = length ?? body.count
    return ProxyHeaderV2.signature + [versionCommand, family, UInt8(length >> 8), UInt8(length & 0xFF)] + body
}

let tcp4Block: [UInt8] = [192, 0, 2, 7, 10, 0, 0, 1, 0xDB, 0x04, 0, 25]
let tcp6Block: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]
    + [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [2] + [0x04, 0xD2, 0x02, 0x4B]
/// A TLV: type, two-octet length, value.
func tlv(_ type: UInt8, _ value: [UInt8]) -> [UInt8] { [type, UInt8(value.count >> 8), UInt8(value.count & 0xFF)] + value }

struct ProxyHeaderV2Tests {
    static let tcp4 = endpoints("192.0.2.7", 56068, "10.0.0.1", 25)

    static let valid: [(name: String, bytes: [UInt8], endpoints: ProxyHeader.Endpoints?)] = [
        ("TCP over IPv4", v2(0x21, 0x11, tcp4Block), tcp4),
        ("TCP over IPv6", v2(0x21, 0x21, tcp6Block), endpoints("2001:db8::1", 1234, "2001:db8::2", 587)),
        ("TLVs after the addresses", v2(0x21, 0x11, tcp4Block + tlv(0x01, Array("smtp".utf8)) + tlv(0x05, [1, 2, 3]) + tlv(0x04, [])), tcp4),
        ("2 KiB of TLVs", v2(0x21, 0x11, tcp4Block + tlv(0x04, [UInt8](repeating: 0, count: 2045))), tcp4),
        ("LOCAL (a health check)", v2(0x20, 0x00, []), nil),
        ("LOCAL with addresses, ignored", v2(0x20, 0x11, tcp4Block), nil),
        ("LOCAL with a short block, ignored", v2(0x20, 0x11, [1, 2, 3]), nil),
        ("PROXY of an UNSPEC family", v2(0x21, 0x00, []), nil),
        ("UDP over IPv4", v2(0x21, 0x12, tcp4Block), nil),
        ("UNIX stream", v2(0x21, 0x31, [UInt8](repeating: 0x41, count: 216)), nil),
    ]

    @Test(arguments: valid)
    func decodesValidHeader(_ name: String, _ bytes: [UInt8], _ expected: ProxyHeader.Endpoints?) throws {
        let (result, left) = decodeAll(bytes + Array("EHLO x\r\n".utf8))
        #expect(try result.get() == ProxyHeader(version: .v2, endpoints: expected), "\(name)")
        #expect(left == 8, "\(name): the octets after the header stay for the session")
    }

    /// Nothing is consumed before the whole header is in.
    @Test(arguments: valid)
    func waitsForTheWholeHeader(_ name: String, _ bytes: [UInt8], _ expected: ProxyHeader.Endpoints?) throws {
        for count in 0..<bytes.count {
            let (result, left) = decodeAll(Array(bytes.prefix(count)))
            #expect(try result.get() == nil, "\(name) after \(count) octets")
            #expect(left == count)
        }
    }

    static let invalid: [(name: String, bytes: [UInt8], error: ProxyHeaderError)] = [
        ("signature altered", [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0D], .notProxyProtocol),
        ("blank line, as an SMTP client never sends first", Array("\r\nHELO".utf8), .notProxyProtocol),
        ("version 1 in the binary form", v2(0x11, 0x11, tcp4Block), .unsupportedVersion(1)),
        ("version 3", v2(0x31, 0x11, tcp4Block), .unsupportedVersion(3)),
        ("command 2", v2(0x22, 0x11, tcp4Block), .unsupportedCommand(2)),
        ("family 4", v2(0x21, 0x41, tcp4Block), .unsupportedFamily(0x41)),
        ("transport 3", v2(0x21, 0x13, tcp4Block), .unsupportedFamily(0x13)),
        ("IPv4 block too short", v2(0x21, 0x11, Array(tcp4Block.prefix(8))), .addressesTruncated(length: 8, needed: 12)),
        ("IPv6 block of IPv4 size", v2(0x21, 0x21, tcp4Block), .addressesTruncated(length: 12, needed: 36)),
        ("TLV past the end", v2(0x21, 0x11, tcp4Block + [0x01, 0x00, 0x05, 0x61]), .malformedTLV),
        ("TLV cut in its length", v2(0x21, 0x11, tcp4Block + [0x01, 0x00]), .malformedTLV),
        ("2 KiB and one of TLVs", v2(0x21, 0x11, tcp4Block + tlv(0x04, [UInt8](repeating: 0, count: 2046))), .headerTooLong(12 + 2049)),
        // Refused from the fixed part alone, before 64 KiB are waited for.
        ("length 65535, fixed part only", v2(0x21, 0x11, [], length: 65535), .headerTooLong(65535)),
        ("bad version, first 13 octets only", ProxyHeaderV2.signature + [0x11], .unsupportedVersion(1)),
        ("short block, fixed part only", v2(0x21, 0x21, [], length: 20), .addressesTruncated(length: 20, needed: 36)),
    ]

    @Test(arguments: invalid)
    func refusesInvalidHeader(_ name: String, _ bytes: [UInt8], _ expected: ProxyHeaderError) {
        let (result, left) = decodeAll(bytes)
        #expect(throws: expected, "\(name)") { try result.get() }
        #expect(left == bytes.count, "\(name): nothing consumed")
    }

    @Test func readsNothingFromAnEmptyBuffer() throws {
        #expect(try decodeAll([]).result.get() == nil)
    }
}
