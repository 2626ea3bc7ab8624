import Testing
@testable import MTASTS

/// RFC 8461 §3.2 policy grammar and §4.1 MX matching.
struct MTASTSPolicyTests {
    @Test func parsesTheRFCExample() throws {
        let policy = try MTASTSPolicy.parse("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n")
        #expect(policy.mode == .enforce)
        #expect(policy.maxAge == 604800)
        #expect(policy.mx.map(\.description) == ["mail.example.com", "*.example.net", "backupmx.example.com"])
    }

    @Test func acceptsCRLFSpacesUnknownKeysAndNoFinalNewline() throws {
        let policy = try MTASTSPolicy.parse("version: STSv1\r\nmode:testing\r\nfoo: bar\r\nmx: MX.Example.COM.\r\nmax_age:   86400")
        #expect(policy.mode == .testing)
        #expect(policy.mx.map(\.description) == ["mx.example.com"])
        #expect(policy.maxAge == 86400)
    }

    @Test func modeNoneNeedsNoMX() throws {
        #expect(try MTASTSPolicy.parse("version: STSv1\nmode: none\nmax_age: 0\n").mode == MTASTSPolicy.Mode.none)
    }

    @Test(arguments: [
        "mode: enforce\nmx: a.example\nmax_age: 1\n",                              // no version
        "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",              // wrong version
        "version: STSv1\nmx: a.example\nmax_age: 1\n",                             // no mode
        "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",               // unknown mode
        "version: STSv1\nmode: enforce\nmx: a.example\n",                          // no max_age
        "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",       // above one year
        "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",             // not digits
        "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n",    // 11 digits
        "version: STSv1\nmode: enforce\nmax_age: 86400\n",                         // enforce without mx
        "version: STSv1\nmode: enforce\nmode: testing\nmx: a.example\nmax_age: 1\n", // mode twice
        "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",             // bad mx
        "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n",            // wildcard not leftmost only
        "version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n",               // no colon
    ])
    func refuses(text: String) {
        #expect(throws: MTASTSPolicyError.self) { try MTASTSPolicy.parse(text) }
    }

    @Test func maxAgeAtTheLimitIsAccepted() throws {
        #expect(try MTASTSPolicy.parse("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n").maxAge == 31_557_600)
    }

    @Test(arguments: [
        ("mail.example.com", "mail.example.com", true),
        ("mail.example.com", "MAIL.Example.com.", true),
        ("mail.example.com", "mail2.example.com", false),
        ("mail.example.com", "example.com", false),
        ("*.example.com", "mx1.example.com", true),
        ("*.example.com", "MX1.EXAMPLE.COM.", true),
        ("*.example.com", "example.com", false),
        ("*.example.com", "a.b.example.com", false),
        ("*.example.com", "mx1.example.com.evil", false),
        ("*.example.com", "mx1example.com", false),
    ])
    func matchesMX(pattern: String, host: String, expected: Bool) throws {
        let pattern = try #require(MXPattern(pattern))
        #expect(pattern.matches(host) == expected)
    }
}
