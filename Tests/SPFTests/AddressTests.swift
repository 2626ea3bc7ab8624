import DNSModel
import Testing

/// The address and name types of DNSModel that SPF relies on.
struct AddressTests {
    @Test(arguments: [
        ("::", "::"), ("::1", "::1"), ("2001:DB8::CB01", "2001:db8::cb01"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("::ffff:1.2.3.4", "::ffff:102:304"),
        ("CAFE:BABE::192.168.218.40", "cafe:babe::c0a8:da28"), ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("fe80::", "fe80::"),
    ])
    func ipv6TextRoundTrip(text: String, canonical: String) {
        #expect(IPv6Address(text)?.description == canonical)
    }

    @Test(arguments: [":", ":::", "1::2::3", ":1::2", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "::g", "1:2::3:", "::1.2.3", "::1.2.3.4.5"])
    func invalidIPv6(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test(arguments: ["1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", "1..2.3", ""])
    func invalidIPv4(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test func mappedAddressesAreIPv4() {
        #expect(IPAddress("::FFFF:1.2.3.4")?.unmapped == IPAddress("1.2.3.4"))
        #expect(IPAddress("::1.2.3.4")?.unmapped == IPAddress("::1.2.3.4"))
    }

    @Test func reverseNames() {
        #expect(IPAddress("192.0.2.3")?.reverseName == "3.2.0.192.in-addr.arpa")
        #expect(IPAddress("2001:db8::cb01")?.reverseName
            == "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
    }

    @Test(arguments: [
        ("192.0.2.3", "192.0.2.0", 24, true), ("192.0.3.3", "192.0.2.0", 24, false), ("1.2.3.4", "9.9.9.9", 0, true),
        ("1.2.3.4", "1.2.3.4", 32, true), ("1.2.3.5", "1.2.3.4", 32, false), ("1.2.3.5", "1.2.3.4", 31, true),
    ])
    func ipv4Networks(address: String, network: String, length: Int, inside: Bool) {
        #expect(IPv4Address(address)!.isInNetwork(IPv4Address(network)!, prefixLength: length) == inside)
    }

    @Test(arguments: [
        ("cafe:babe:8000::1", "cafe:babe:8000::", 33, true), ("cafe:babe:0::1", "cafe:babe:8000::", 33, false),
        ("2001:db8:1234::cafe:babe", "2001:db8:1234::dead:beef", 64, true), ("2001:db8::1", "2001:db8::2", 127, false),
        ("2001:db8::1", "2001:db8::0", 127, true), ("::1", "ffff::", 0, true), ("::1", "::1", 128, true),
    ])
    func ipv6Networks(address: String, network: String, length: Int, inside: Bool) {
        #expect(IPv6Address(address)!.isInNetwork(IPv6Address(network)!, prefixLength: length) == inside)
    }

    @Test func namesCompareWithoutCaseAndKeepTheirBytes() {
        #expect(DNSName("Mail.Example.COM.") == DNSName("mail.example.com"))
        #expect(DNSName("mail.example.com")!.isSubdomain(of: DNSName("EXAMPLE.com")!))
        #expect(!DNSName("mailexample.com")!.isSubdomain(of: DNSName("example.com")!))
        #expect(DNSName("a b.example.com")?.labels.first == Array("a b".utf8))
        #expect(DNSName("a..b") == nil)
        #expect(DNSName(String(repeating: "a", count: 64) + ".com") == nil)
        #expect(DNSName(String(repeating: "abcdefg.", count: 32) + "com") == nil)  // 260 octets
        #expect(DNSName(".")?.isRoot == true)
    }
}
