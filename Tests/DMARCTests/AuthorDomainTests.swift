import MailMessage
import Testing

@testable import DMARC

/// The RFC 5322.From domain and its failure cases (RFC 7489 §6.6.1).
struct AuthorDomainTests {
    @Test(arguments: [
        ("a@example.com", "example.com"),
        ("Alice <alice@Mail.Example.COM>", "mail.example.com"),
        ("\"Doe, John\" <john@example.org>", "example.org"),
        ("\"odd@quoted.invalid\"@example.net", "example.net"),
        ("(comment with @ and <x@y.z>) bob@example.com (trailing)", "example.com"),
        ("Team: a@example.com, b@example.com;", "example.com"),
        ("<@route.example,@r2.example:user@example.com>", "example.com"),
        ("a@example.com, Bee <b@EXAMPLE.com>", "example.com"),
        ("\"<evil@attacker.example>\" <good@example.com>", "example.com"),
        ("user@example.com.", "example.com"),
    ])
    func domain(value: String, expected: String) {
        #expect(AuthorDomain.extract(fromValue: value) == .success(expected))
    }

    @Test(arguments: [
        ("a@example.com, b@example.org", AuthorDomain.Failure.severalDomains(["example.com", "example.org"])),
        ("", .noDomain), ("Undisclosed recipients:;", .noDomain), ("alice", .noDomain),
        ("a@[192.0.2.1]", .noDomain), ("a@exa mple.com", .noDomain), ("a@-bad.example", .noDomain),
        ("a@example..com", .noDomain), ("a@example.com, junk", .noDomain),
    ])
    func failure(value: String, failure: AuthorDomain.Failure) {
        #expect(AuthorDomain.extract(fromValue: value) == .failure(failure))
    }

    @Test func fieldCount() {
        let none = HeaderSection(parsing: Array("Subject: x\r\n\r\n".utf8))
        #expect(AuthorDomain.extract(from: none) == .failure(.noFromField))
        let two = HeaderSection(parsing: Array("From: a@example.com\r\nfrom: b@example.com\r\n\r\n".utf8))
        #expect(AuthorDomain.extract(from: two) == .failure(.severalFromFields(2)))
        let folded = HeaderSection(parsing: Array("From: Alice\r\n <alice@example.com>\r\n\r\n".utf8))
        #expect(AuthorDomain.extract(from: folded) == .success("example.com"))
    }
}
