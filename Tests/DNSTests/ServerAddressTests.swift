import DNSModel
import Foundation
import Testing

@testable import DNS

struct ServerAddressTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1:53"), ("127.0.0.1:5353", "127.0.0.1:5353"), ("::1", "[::1]:53"),
        ("[::1]", "[::1]:53"), ("[::1]:5353", "[::1]:5353"), ("2001:db8::53", "[2001:db8::53]:53"),
    ])
    func parsing(text: String, canonical: String) {
        #expect(DNSServerAddress(parsing: text)?.description == canonical)
    }

    @Test(arguments: ["", "localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000", "[::1", "[::1]5353", "1.2.3"])
    func rejected(text: String) {
        #expect(DNSServerAddress(parsing: text) == nil)
    }

    @Test func resolvConf() throws {
        let text = """
            # comment
            search example.com
            nameserver 127.0.0.53
            nameserver ::1
            nameserver fe80::1%eth0
            options edns0
            nameserver\t127.0.0.2
            """
        #expect(DNSServerAddress.parseResolvConf(text).map(\.description) == ["127.0.0.53:53", "[::1]:53", "127.0.0.2:53"])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("resolv-\(UUID().uuidString).conf")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try DNSServerAddress.fromResolvConf(path: file.path).count == 3)
    }
}
