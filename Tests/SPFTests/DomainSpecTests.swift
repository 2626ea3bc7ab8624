import DNSModel
import Testing

@testable import SPF

/// `domain-spec` syntax and target names ([RFC 7208 §7.1, §7.3, §4.3](https://www.rfc-editor.org/rfc/rfc7208#section-7.1)).
struct DomainSpecTests {
    @Test(arguments: [
        "example.com", "example.com.", "foo:bar/baz.example.com", "%{d}", "%{d}.example.com",
        "_spf.%{d2}", "foo.example.xn--zckzah", "abc.123-4", ".com", "a.b%%", "x.%_",
    ])
    func valid(spec: String) {
        #expect(throws: Never.self) { try DomainSpec.parse(spec) }
    }

    @Test(arguments: [
        "", "museum", "museum.", "example.com:8080", "abc.123", "111.222.33.44", "example.-com",
        "foo.example.com\0", "foo.example.com/24", "foo-bar", "%{d}.", "exa mple.com",
    ])
    func invalid(spec: String) {
        #expect(throws: MacroSyntaxError.self) { try DomainSpec.parse(spec) }
    }

    @Test func trailingDotIsDroppedAndLongNamesLoseLabelsOnTheLeft() {
        #expect(DomainSpec.targetName(fromExpanded: "example.com.", limit: 253) == DNSName("example.com"))
        let long = String(repeating: "abcdefghi.", count: 30) + "example.com"  // 311 characters
        let target = DomainSpec.targetName(fromExpanded: long, limit: 253)
        #expect(target != nil)
        #expect(target!.description.utf8.count <= 253)
        #expect(target!.description.hasSuffix("abcdefghi.example.com"))
        #expect(target!.description.hasPrefix("abcdefghi."))
    }

    @Test(arguments: ["a..example.com", "", ".", String(repeating: "x", count: 64) + ".example.com"])
    func unusableExpansionsGiveNoTarget(expanded: String) {
        #expect(DomainSpec.targetName(fromExpanded: expanded, limit: 253) == nil)
    }

    @Test(arguments: [
        ("example.com", true), ("mail.example.com.", true), ("A2345678", false), ("[1.2.3.5]", false),
        ("A...example.com", false), (String(repeating: "a", count: 64) + ".example.com", false),
        (String(repeating: "a", count: 63) + ".example.com", true), ("example.123", false), ("", false),
    ])
    func checkableIdentityDomains(domain: String, checkable: Bool) {
        #expect(DomainSpec.isCheckableDomain(domain) == checkable)
    }
}
