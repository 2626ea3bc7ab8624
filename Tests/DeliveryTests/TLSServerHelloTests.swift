import NIOCore
import Testing
@testable import Delivery

@Suite("ServerHello cipher suite")
struct TLSServerHelloTests {
    /// A TLS 1.3 ServerHello as a server sends it: record header, handshake
    /// header, legacy_version, random, session id echo, suite, compression.
    static func serverHello(sessionID: Int = 32, suite: (UInt8, UInt8) = (0x13, 0x02)) -> [UInt8] {
        let body: [UInt8] = [0x03, 0x03] + Array(repeating: 0xAB, count: 32) + [UInt8(sessionID)]
            + Array(repeating: 0x11, count: sessionID) + [suite.0, suite.1, 0x00] + [0x00, 0x00]
        let handshake: [UInt8] = [0x02, 0x00, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        return [0x16, 0x03, 0x03, UInt8(handshake.count >> 8), UInt8(handshake.count & 0xFF)] + handshake
    }

    @Test(arguments: [0, 1, 32])
    func readsTheSuiteWhateverTheSessionIDLength(sessionID: Int) {
        #expect(TLSServerHelloReader.parse(Self.serverHello(sessionID: sessionID)) == .cipher(0x1302))
    }

    @Test func waitsForMoreUntilTheSuiteHasArrived() {
        let hello = Self.serverHello()
        var reader = TLSServerHelloReader()
        var result: TLSServerHelloReader.Result?
        for (index, octet) in hello.enumerated() {
            result = reader.feed(ByteBuffer(bytes: [octet]).readableBytesView)
            if result != nil {
                // The suite ends at 5 + 4 + 2 + 32 + 1 + 32 + 2 octets.
                #expect(index + 1 == 78)
                break
            }
        }
        #expect(result == .cipher(0x1302))
    }

    @Test func givesUpOnWhatIsNotAServerHello() {
        #expect(TLSServerHelloReader.parse([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]) == .unknown)  // alert
        var notHello = Self.serverHello()
        notHello[5] = 0x0B  // certificate
        #expect(TLSServerHelloReader.parse(notHello) == .unknown)
        var badID = Self.serverHello()
        badID[43] = 33
        #expect(TLSServerHelloReader.parse(badID) == .unknown)
        #expect(TLSServerHelloReader.parse([]) == nil)
        #expect(TLSServerHelloReader.parse([0x16, 0x03]) == nil)
    }

    @Test func namesSuites() {
        #expect(TLSServerHelloReader.name(0x1301) == "TLS_AES_128_GCM_SHA256")
        #expect(TLSServerHelloReader.name(0xC02F) == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        #expect(TLSServerHelloReader.name(0x00FF) == "0x00FF")
    }
}
