import DNSModel
import Testing

@testable import SPF

/// Macro expansion ([RFC 7208 §7](https://www.rfc-editor.org/rfc/rfc7208#section-7)).
struct MacroTests {
    /// The context of RFC 7208 §7.4's examples.
    static func context(ip: String = "192.0.2.3") -> MacroContext {
        MacroContext(
            sender: SPFSender(address: "strong-bad@email.example.com"), domain: "email.example.com",
            ip: IPAddress(ip)!, helo: "mx.example.org", validatedDomain: "mx.example.org",
            receivingHost: "receiver.example.net", timestamp: 1_700_000_000)
    }

    static func expand(_ text: String, kind: MacroStringKind = .domainSpec, ip: String = "192.0.2.3") throws -> String {
        MacroExpander.expand(try MacroString.parse(text, kind: kind), in: context(ip: ip))
    }

    // RFC 7208 §7.4, verbatim.
    @Test(arguments: [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ])
    func rfcExamplesIPv4(macro: String, expansion: String) throws {
        #expect(try Self.expand(macro) == expansion)
    }

    @Test func rfcExampleIPv6() throws {
        #expect(try Self.expand("%{ir}.%{v}._spf.%{d2}", ip: "2001:db8::cb01")
            == "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com")
    }

    @Test(arguments: [
        ("%%%_%-", "% %20"),
        ("%{L}", "strong-bad"),
        ("%{S}", "strong-bad%40email.example.com"),
        ("%{h}", "mx.example.org"),
        ("%{p}", "mx.example.org"),
        ("%{l2r-}", "bad.strong"),
        ("%{d0000000000002}", "example.com"),
        ("%{d200}", "email.example.com"),
        ("%{l-.}", "strong.bad"),
    ])
    func transformersAndEscapes(macro: String, expansion: String) throws {
        #expect(try Self.expand(macro) == expansion)
    }

    @Test(arguments: [
        ("%{c}", "192.0.2.3"),
        ("%{r}", "receiver.example.net"),
        ("%{t}", "1700000000"),
        ("from %{c} via %{v}", "from 192.0.2.3 via in-addr"),
    ])
    func explanationOnlyLetters(macro: String, expansion: String) throws {
        #expect(try Self.expand(macro, kind: .explanation) == expansion)
    }

    @Test func clientIPv6IsCompressed() throws {
        #expect(try Self.expand("%{c}", kind: .explanation, ip: "2001:DB8:0:0:0:0:0:CB01") == "2001:db8::cb01")
    }

    @Test(arguments: [
        "%", "%x", "%{", "%{d", "%{x}", "%{d0}", "%{dr2}", "%{d.2}", "%{c}.example.com", "%{r}", "%{t}",
        "a b", "tab\there", "\u{7F}", "caf\u{E9}",
    ])
    func syntaxErrorsInDomainSpecs(text: String) {
        #expect(throws: MacroSyntaxError.self) { try MacroString.parse(text, kind: .domainSpec) }
    }

    @Test func spacesOnlyInExplanations() throws {
        #expect(try Self.expand("a b  c", kind: .explanation) == "a b  c")
    }

    @Test(arguments: [
        ("a", "a"), ("~a&b=c", "~a%26b%3Dc"), ("x y", "x%20y"), ("é", "%C3%A9"), ("/?", "%2F%3F"),
    ])
    func urlEscaping(input: String, escaped: String) {
        #expect(MacroExpander.urlEscape(input) == escaped)
    }
}
