import DNSModel
import Testing

@Suite("IPv4 dotted quads")
struct IPv4AddressTests {
    @Test(arguments: [
        ("127.0.0.1", UInt32(0x7F00_0001)), ("0.0.0.0", 0), ("255.255.255.255", 0xFFFF_FFFF), ("10.200.3.40", 0x0AC8_0328),
    ])
    func parses(text: String, value: UInt32) {
        #expect(IPv4Address(text)?.value == value)
        #expect(IPv4Address(text)?.description == text)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "256.0.0.1", "01.2.3.4", "1.2.3.00",
                      "1.2.3.4 ", "1.2.3.-4", "1.2.3.4a", "1000.2.3.4", "::1", "1.2.3.0255"])
    func refuses(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    /// Random strings of digits and dots against a reference that splits on
    /// dots: four parts, each 0–255 in decimal without leading zeros.
    @Test func matchesTheReferenceOnRandomText() {
        var state: UInt64 = 4
        func random(_ below: Int) -> Int { // Knuth's MMIX LCG: the same inputs every run
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(below))
        }
        let alphabet = Array("0123456789..2x".utf8)
        for _ in 0..<50_000 {
            let text = String(decoding: (0..<random(18)).map { _ in alphabet[random(alphabet.count)] }, as: UTF8.self)
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            let valid = parts.count == 4 && parts.allSatisfy { part in
                (1...3).contains(part.count) && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                    && !(part.count > 1 && part.first == "0") && Int(part)! <= 255
            }
            let expected = valid ? parts.reduce(UInt32(0)) { $0 << 8 | UInt32($1)! } : nil
            #expect(IPv4Address(text)?.value == expected, "\(text)")
        }
    }
}
