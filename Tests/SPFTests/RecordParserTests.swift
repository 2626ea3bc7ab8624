import DNSModel
import Testing

@testable import SPF

/// Record syntax ([RFC 7208 §4.5, §4.6, §5, §6](https://www.rfc-editor.org/rfc/rfc7208#section-4.6)).
struct RecordParserTests {
    static func parse(_ text: String) throws(SPFSyntaxError) -> SPFRecord {
        try SPFRecordParser.parse(Array(text.utf8))
    }

    @Test(arguments: [
        ("v=spf1", true), ("V=SpF1 -all", true), ("v=spf1 ", true), ("v=spf10", false), ("v=spf1-all", false),
        ("spf1", false), ("", false), (" v=spf1", false),
    ])
    func versionSelectsRecords(text: String, isSPF: Bool) {
        #expect(SPFRecordParser.isSPFRecord(Array(text.utf8)) == isSPF)
    }

    @Test func everyMechanismAndModifier() throws {
        let record = try Self.parse(
            "v=spf1 +all -include:_spf.example.com ~a ?a:mail.example.com/24//64 mx/30 mx:%{d}//48 "
                + "ptr ptr:example.org ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{ir}.bl.example.com "
                + "redirect=_spf.example.net exp=explain.%{d} unknown-mod=anything%%")
        let mechanisms = record.directives.map(\.mechanism)
        #expect(mechanisms.count == 11)
        #expect(record.directives.map(\.qualifier) == [.pass, .fail, .softfail, .neutral] + Array(repeating: .pass, count: 7))
        #expect(mechanisms[0] == .all)
        #expect(mechanisms[3] == .a(try DomainSpec.parse("mail.example.com"), DualCIDRLength(ipv4: 24, ipv6: 64)))
        #expect(mechanisms[4] == .mx(nil, DualCIDRLength(ipv4: 30, ipv6: 128)))
        #expect(mechanisms[5] == .mx(try DomainSpec.parse("%{d}"), DualCIDRLength(ipv4: 32, ipv6: 48)))
        #expect(mechanisms[8] == .ip4(IPv4Address("192.0.2.0")!, prefixLength: 24))
        #expect(mechanisms[9] == .ip6(IPv6Address("2001:db8::")!, prefixLength: 32))
        #expect(record.redirect != nil)
        #expect(record.explanation != nil)
        #expect(record.directives[1].text == "-include:_spf.example.com")
    }

    @Test(arguments: [
        "v=spf1   a    -all  ", "v=spf1 a/0 a//0 a/32//128", "v=spf1 ip4:1.1.1.1/0", "v=spf1 ip6:::1.1.1.1/0",
        "v=spf1 ip6:Cafe:Babe:8000::/33", "v=spf1 moo.cow-far_out=man:dog/cat", "v=spf1 default=pass",
        "v=spf1 a:foo:bar/baz.example.com", "v=spf1 ALL", "v=spf1 ip6:::FFFF:1.2.3.4",
    ])
    func acceptedRecords(text: String) {
        #expect(throws: Never.self) { try Self.parse(text) }
    }

    // Most of these come from the OpenSPF suite's syntax tests.
    @Test(arguments: [
        "v=spf1 ip4:1.2.3.4 -all moo", "v=spf1 moo.cow/far_out=man:dog/cat", "v=spf1 moo.cow:far_out=man:dog/cat",
        "v=spf1 redirect:t2.example.com", "v=spf1 a:foo-bar", "v=spf1 -all.", "v=spf1 -all:foobar", "v=spf1 -all/8",
        "v=spf1 ptr/0", "v=spf1 ptr:", "v=spf1 a//33x", "v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/24/64",
        "v=spf1 a:example.com:8080", "v=spf1 a:abc.123", "v=spf1 a:museum", "v=spf1 a:museum.", "v=spf1 a:",
        "v=spf1 include", "v=spf1 include:", "v=spf1 include:ip5.example.com/24", "v=spf1 mx:", "v=spf1 exists",
        "v=spf1 exists:", "v=spf1 exists:mail.example.com/24", "v=spf1 ip4", "v=spf1 ip4:1.2.3.4/33",
        "v=spf1 ip4:1.2.3.4/032", "v=spf1 ip4:1.2.3.4//32", "v=spf1 ip4:1.2.3.4:8080", "v=spf1 ip4:1.2.3",
        "v=spf1 ip4:01.2.3.4", "v=spf1 ip6", "v=spf1 ip6:::1.1.1.1/129", "v=spf1 ip6:::1.1.1.1//33",
        "v=spf1 ip6::CAFE::BABE", "v=spf1 exp=", "v=spf1 exp=-all", "v=spf1 redirect=-all", "v=spf1 redirect=",
        "v=spf1 exp=a.example.com exp=b.example.com", "v=spf1 redirect=a.example.com redirect=a.example.com",
        "v=spf1 1up=foo", "v=spf1 =all", "v=spf1 foo=%abc", "v=spf1 a:ctrl.example.com\rptr -all",
        "v=spf1 ip4:192.0.2.5\n", "v=spf1 a:\u{EF}garbage.example.net", "v=spf1 exp=%{r}.example.com",
        "v=spf1 a:%{a}.example.com", "v=spf1 exists:%(ir).sbl.example.com", "v=spf1 foo",
    ])
    func rejectedRecords(text: String) {
        #expect(throws: SPFSyntaxError.self) { try Self.parse(text) }
    }

    @Test func nonASCIIOctetsAreRejectedEvenWhenNotUTF8() {
        var bytes = Array("v=spf1 a:example.net ".utf8)
        bytes.append(0x96)
        bytes += Array("all".utf8)
        #expect(throws: SPFSyntaxError.self) { try SPFRecordParser.parse(bytes) }
    }
}
