import Testing

@testable import DMARC

/// Organisational domains (RFC 7489 §3.2) from a small list with the
/// rule kinds of https://publicsuffix.org/list/ (the list's own test cases).
struct PublicSuffixListTests {
    static let list = PublicSuffixList(text: """
        // ===BEGIN ICANN DOMAINS===
        com
        uk
        co.uk
        jp
        *.kobe.jp
        !city.kobe.jp
        *.ck
        !www.ck

        // ===BEGIN PRIVATE DOMAINS===
        github.io   trailing words are ignored
        """)

    @Test(arguments: [
        ("example.com", "example.com"), ("a.b.example.com", "example.com"), ("EXAMPLE.COM.", "example.com"),
        ("com", "com"), ("mail.example.co.uk", "example.co.uk"), ("example.co.uk", "example.co.uk"),
        ("co.uk", "co.uk"), ("www.a.b.kobe.jp", "a.b.kobe.jp"), ("b.kobe.jp", "b.kobe.jp"),
        ("www.city.kobe.jp", "city.kobe.jp"), ("city.kobe.jp", "city.kobe.jp"), ("x.www.ck", "www.ck"),
        ("a.b.ck", "a.b.ck"), ("x.a.b.ck", "a.b.ck"), ("me.github.io", "me.github.io"), ("x.me.github.io", "me.github.io"),
        ("example.test", "example.test"), ("a.example.test", "example.test"),
    ])
    func organisationalDomain(domain: String, expected: String) {
        #expect(Self.list.organisationalDomain(of: domain) == expected)
    }

    @Test(arguments: [("www.city.kobe.jp", "kobe.jp"), ("a.b.kobe.jp", "b.kobe.jp"), ("foo.test", "test"), ("x.y.ck", "y.ck")])
    func publicSuffix(domain: String, expected: String) {
        #expect(Self.list.publicSuffix(of: domain) == expected)
    }

    @Test func debianListWhenInstalled() throws {
        // The packaged list (scripts/deps.sh installs publicsuffix).
        let list = try PublicSuffixList(contentsOf: PublicSuffixList.debianPath)
        #expect(list.ruleCount > 5000)
        #expect(list.organisationalDomain(of: "mail.bbc.co.uk") == "bbc.co.uk")
    }

    @Test func unreadableFileIsAnError() {
        #expect(throws: PublicSuffixListError.unreadable("/nonexistent/psl.dat")) {
            try PublicSuffixList(contentsOf: "/nonexistent/psl.dat")
        }
    }

    @Test(arguments: [
        ("mail.example.com", "example.com", DMARCRecord.Alignment.relaxed, true),
        ("mail.example.com", "example.com", .strict, false),
        ("Example.COM.", "example.com", .strict, true),
        ("example.co.uk", "other.co.uk", .relaxed, false),
        ("a.example.co.uk", "b.example.co.uk", .relaxed, true),
        ("evil-example.com", "example.com", .relaxed, false),
        ("", "example.com", .relaxed, false),
    ])
    func alignment(identifier: String, from: String, mode: DMARCRecord.Alignment, aligned: Bool) {
        #expect(DMARCAlignment(suffixes: Self.list).aligned(identifier, with: from, mode: mode) == aligned)
    }
}
