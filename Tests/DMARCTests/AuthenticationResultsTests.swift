import Testing

@testable import DMARC

/// Rendering of the field value (RFC 8601 §2.2, RFC 7489 §11.2).
struct AuthenticationResultsTests {
    typealias Method = AuthenticationResults.Method
    typealias Property = AuthenticationResults.Property

    @Test func fullField() {
        var dmarc = DMARCResult(verdict: .pass, fromDomain: "example.com", requestedPolicy: .reject)
        dmarc.disposition = .none
        let field = AuthenticationResults(authservID: "mx.example.net", methods: [
            Method(name: "spf", result: "pass", properties: [Property("smtp.mailfrom", "bounce@example.com")]),
            Method(name: "dkim", result: "pass", properties: [
                Property("header.d", "example.com"), Property("header.s", "sel"), Property("header.b", "ab/c+d=e"),
            ]),
            Method(name: "dkim", result: "fail", reason: "body hash \"mismatch\"", properties: [Property("header.d", "other.org")]),
            .dmarc(dmarc),
        ])
        #expect(field.value == "mx.example.net; spf=pass smtp.mailfrom=bounce@example.com; "
            + "dkim=pass header.d=example.com header.s=sel header.b=\"ab/c+d=e\"; "
            + "dkim=fail reason=\"body hash \\\"mismatch\\\"\" header.d=other.org; "
            + "dmarc=pass (p=reject dis=none) header.from=example.com")
    }

    @Test func nothingChecked() {
        #expect(AuthenticationResults(authservID: "mx.example.net", methods: []).value == "mx.example.net; none")
    }

    @Test(arguments: [
        ("example.com", "example.com"), ("a b", "\"a b\""), ("x;dkim=pass", "\"x;dkim=pass\""),
        ("a\r\nX-Evil: 1", "\"a  X-Evil: 1\""), ("q\"\\", "\"q\\\"\\\\\""), ("", "\"\""),
    ])
    func quoting(text: String, rendered: String) {
        #expect(AuthenticationResults.value(text) == rendered)
    }

    @Test func dmarcWithoutRecordSaysWhy() {
        let none = DMARCResult(verdict: .none, fromDomain: "example.com", reason: "no DMARC record")
        #expect(AuthenticationResults(authservID: "mx", methods: [.dmarc(none)]).value
            == "mx; dmarc=none (no DMARC record) header.from=example.com")
        let broken = DMARCResult(verdict: .permerror, fromDomain: nil, reason: "2 From fields (x)")
        #expect(AuthenticationResults(authservID: "mx", methods: [.dmarc(broken)]).value == "mx; dmarc=permerror (2 From fields _x_)")
    }
}
