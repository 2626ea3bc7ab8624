import MailMessage
import Testing
@testable import Policy

@Suite("Header rewriting ([headers] rules)")
struct HeaderRewriterTests {
    /// Header text written with "\n", parsed from CRLF as it arrives on the wire.
    static func section(_ text: String) -> HeaderSection {
        HeaderSection(parsing: Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8))
    }

    static func wire(_ text: String) -> [UInt8] {
        Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
    }

    static func rewriter(_ configure: (inout HeaderRules) -> Void) throws -> HeaderRewriter {
        var rules = HeaderRules()
        configure(&rules)
        return try HeaderRewriter(rules: rules)
    }

    static let sample = """
    Received: from laptop.intranet (laptop.intranet [10.0.0.7])
    \tby mx.intranet with ESMTP id 1; Fri, 27 Nov 2026 21:15:16 +0000
    Received: from a by b; Fri, 27 Nov 2026 21:15:15 +0000
    DKIM-Signature: v=1; a=rsa-sha256; d=example.edu; s=sel;
    \th=from:to:subject; bh=abc=; b=def
    From: "Alice Example" <alice@host.example.edu>
    To: Bob <bob@example.org>
    Subject: =?UTF-8?B?W0VYVEVSTkFMXSBRdWFydGVybHkgcmVwb3J0?=
    X-Mailer: Thunderbird
    X-Internal-Host: laptop
    X-INTERNAL-ID: 42
    X-Internalish: kept

    """

    // MARK: Render

    @Test("an unchanged section renders byte for byte")
    func renderRoundTrip() {
        let bytes = Self.wire(Self.sample)
        let rendered = HeaderRewriter.render(HeaderSection(parsing: bytes))
        #expect(rendered == Self.wire(Self.sample))
    }

    @Test("empty rules leave the section as it was")
    func emptyRules() throws {
        let headers = Self.section(Self.sample)
        #expect(try HeaderRewriter(rules: HeaderRules()).rewrite(headers) == headers)
    }

    // MARK: Received and remove

    @Test("strip_received drops every Received field and nothing else")
    func stripReceived() throws {
        let rewritten = try Self.rewriter { $0.stripReceived = true }.rewrite(Self.section(Self.sample))
        #expect(!rewritten.contains("Received"))
        #expect(rewritten.fields == Self.section(Self.sample).fields.filter { !$0.hasName("received") })
    }

    @Test("remove by exact name, case-insensitively")
    func removeByName() throws {
        let rewritten = try Self.rewriter { $0.remove = ["x-mailer"] }.rewrite(Self.section(Self.sample))
        #expect(!rewritten.contains("X-Mailer"))
        #expect(rewritten.fields.count == Self.section(Self.sample).fields.count - 1)
    }

    @Test("remove by /regex/ matched against the name, case-insensitively")
    func removeByRegex() throws {
        let rewritten = try Self.rewriter { $0.remove = ["/^x-internal-/"] }.rewrite(Self.section(Self.sample))
        #expect(rewritten.fields.map(\.name).filter { $0.lowercased().hasPrefix("x-internal") } == ["X-Internalish"])
    }

    @Test("remove rules that match nothing leave the bytes identical")
    func removeNoMatch() throws {
        let rewriter = try Self.rewriter { $0.remove = ["X-Absent", "/^x-nothing/"] }
        #expect(HeaderRewriter.render(rewriter.rewrite(Self.section(Self.sample))) == Self.wire(Self.sample))
    }

    // MARK: Replace

    @Test("replace matches the RFC 2047-decoded value")
    func replaceEncodedSubject() throws {
        let rewriter = try Self.rewriter {
            $0.replace = [.init(name: "subject", pattern: #"^\[EXTERNAL\]\s*"#, replacement: "")]
        }
        let rewritten = rewriter.rewrite(Self.section(Self.sample))
        #expect(rewritten.first("Subject")?.rawValue == " Quarterly report")
        let others = rewritten.fields.filter { !$0.hasName("Subject") }
        #expect(others == Self.section(Self.sample).fields.filter { !$0.hasName("Subject") })
    }

    @Test("a replace pattern that does not match leaves the field byte for byte")
    func replaceNoMatch() throws {
        let rewriter = try Self.rewriter {
            $0.replace = [.init(name: "Subject", pattern: "^\\[SPAM\\]", replacement: "")]
        }
        #expect(HeaderRewriter.render(rewriter.rewrite(Self.section(Self.sample))) == Self.wire(Self.sample))
    }

    @Test("a replacement that changes nothing leaves the field byte for byte")
    func replaceUnchanged() throws {
        let rewriter = try Self.rewriter {
            $0.replace = [.init(name: "Subject", pattern: "(report)", replacement: "$1")]
        }
        #expect(HeaderRewriter.render(rewriter.rewrite(Self.section(Self.sample))) == Self.wire(Self.sample))
    }

    @Test("replacement refers to groups with $1 and ${name}; $$ is a dollar")
    func replaceWithGroups() throws {
        let rewriter = try Self.rewriter {
            $0.replace = [.init(name: "Subject", pattern: #"^\[(\w+)\] (?<rest>.*)$"#,
                                replacement: "${rest} (was $1, $$5)")]
        }
        let rewritten = rewriter.rewrite(Self.section(Self.sample))
        #expect(rewritten.first("Subject")?.rawValue == " Quarterly report (was EXTERNAL, $5)")
    }

    @Test("non-ASCII results are encoded as UTF-8 encoded words")
    func replaceReencodes() throws {
        let headers = Self.section("Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= [EXTERNAL] aus K=?utf-8?q?=C3=B6?=ln\n")
        let rewriter = try Self.rewriter {
            $0.replace = [.init(name: "Subject", pattern: #" ?\[EXTERNAL\]"#, replacement: "")]
        }
        let field = try #require(rewriter.rewrite(headers).first("Subject"))
        #expect(field.rawValue == " =?UTF-8?B?R3LDvMOfZQ==?= aus =?UTF-8?B?S8O2bG4=?=")
        #expect(field.decodedValue == "Grüße aus Köln")
    }

    @Test("long encoded results are folded within 78 octets and decode back")
    func replaceFolds() throws {
        let text = String(repeating: "Änderung über Größe ", count: 8) + "ok"
        let rewriter = try Self.rewriter {
            $0.replace = [.init(name: "Subject", pattern: "^.*$", replacement: text)]
        }
        let rewritten = rewriter.rewrite(Self.section("Subject: short\n"))
        let rendered = String(decoding: HeaderRewriter.render(rewritten), as: UTF8.self)
        let lines = rendered.split(separator: "\r\n")
        #expect(lines.count > 1)
        #expect(lines.allSatisfy { $0.utf8.count <= 78 && $0.unicodeScalars.allSatisfy(\.isASCII) })
        #expect(rewritten.first("Subject")?.decodedValue == text)
        #expect(HeaderSection(parsing: Array(rendered.utf8)) == rewritten)
    }

    @Test("line breaks in a replacement cannot inject a field")
    func replaceCannotInject() throws {
        let rewriter = try Self.rewriter {
            $0.replace = [.init(name: "Subject", pattern: "report", replacement: "x\r\nBcc: evil@example.net")]
        }
        let rendered = HeaderRewriter.render(rewriter.rewrite(Self.section(Self.sample)))
        #expect(!HeaderSection(parsing: rendered).contains("Bcc"))
    }

    // MARK: Masquerade

    static let masquerade = HeaderRules.Masquerade(domains: ["example.edu", ".example.edu"], target: "example.edu.test")

    struct MasqueradeCase: Sendable, CustomTestStringConvertible {
        var field: String
        var expected: String?
        var testDescription: String { field }
    }

    @Test("masquerade rewrites From, Sender and Reply-To addresses only", arguments: [
        MasqueradeCase(field: "From: \"Alice Example\" <alice@host.example.edu>",
                       expected: " \"Alice Example\" <alice@example.edu.test>"),
        MasqueradeCase(field: "From: alice@example.edu", expected: " alice@example.edu.test"),
        MasqueradeCase(field: "Sender: <root@CS.Example.EDU>", expected: " <root@example.edu.test>"),
        MasqueradeCase(field: "From: \"alice@example.edu\" <alice@example.edu>",
                       expected: " \"alice@example.edu\" <alice@example.edu.test>"),
        MasqueradeCase(field: "Reply-To: a@example.edu, Bob <b@example.org>,\n c@mail.example.edu (a@example.edu)",
                       expected: " a@example.edu.test, Bob <b@example.org>,\r\n c@example.edu.test (a@example.edu)"),
        MasqueradeCase(field: "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.edu>",
                       expected: " =?UTF-8?Q?J=C3=BCrgen?= <j@example.edu.test>"),
        MasqueradeCase(field: "From: \"a b\"@example.edu", expected: " \"a b\"@example.edu.test"),
        MasqueradeCase(field: "From: Group: x@example.edu, y@example.edu;",
                       expected: " Group: x@example.edu.test, y@example.edu.test;"),
        MasqueradeCase(field: "From: alice@example.org", expected: nil),
        MasqueradeCase(field: "From: alice@notexample.edu", expected: nil),
        MasqueradeCase(field: "From: alice@example.edu.evil", expected: nil),
        MasqueradeCase(field: "To: alice@example.edu", expected: nil),
    ])
    func masqueradeFields(_ test: MasqueradeCase) throws {
        let rewriter = try Self.rewriter { $0.masquerade = Self.masquerade }
        let original = Self.section(test.field + "\n")
        let rewritten = rewriter.rewrite(original)
        #expect(rewritten.fields.first?.rawValue == (test.expected ?? original.fields.first?.rawValue))
    }

    @Test("a subdomain entry does not match the domain itself")
    func masqueradeSubdomainOnly() throws {
        let rewriter = try Self.rewriter { $0.masquerade = .init(domains: [".example.edu"], target: "example.edu") }
        let rewritten = rewriter.rewrite(Self.section("From: a@example.edu\nSender: b@x.example.edu\n"))
        #expect(rewritten.fields.map(\.rawValue) == [" a@example.edu", " b@example.edu"])
    }

    @Test("envelope sender masquerade")
    func masqueradeEnvelope() throws {
        let rewriter = try Self.rewriter { $0.masquerade = Self.masquerade }
        #expect(rewriter.masquerade(address: "alice@host.example.edu") == "alice@example.edu.test")
        #expect(rewriter.masquerade(address: "alice@EXAMPLE.edu") == "alice@example.edu.test")
        #expect(rewriter.masquerade(address: "alice@example.org") == nil)
        #expect(rewriter.masquerade(address: "@example.edu") == nil)
        #expect(try HeaderRewriter(rules: HeaderRules()).masquerade(address: "alice@example.edu") == nil)
    }

    // MARK: Add, order, errors

    @Test("add appends after remove ran, so a removed name can be set afresh")
    func addAfterRemove() throws {
        let rewriter = try Self.rewriter {
            $0.remove = ["X-Mailer"]
            $0.add = ["X-Mailer: Postern", "X-Relayed-By:relay.example.edu"]
        }
        let rewritten = rewriter.rewrite(Self.section(Self.sample))
        #expect(rewritten.fields.suffix(2) == [HeaderField(name: "X-Mailer", rawValue: " Postern"),
                                              HeaderField(name: "X-Relayed-By", rawValue: " relay.example.edu")])
        #expect(rewritten.all("X-Mailer").count == 1)
    }

    @Test("bad rules are refused with the entry named", arguments: [
        ("remove", "/(unclosed/"), ("remove", "//"), ("remove", "X Mailer"),
        ("replace", "[a-z"), ("add", "No colon here"), ("add", ": empty name"), ("masquerade", ""),
    ])
    func badRules(_ setting: String, _ entry: String) {
        var rules = HeaderRules()
        switch setting {
        case "remove": rules.remove = [entry]
        case "replace": rules.replace = [.init(name: "Subject", pattern: entry, replacement: "")]
        case "add": rules.add = [entry]
        default: rules.masquerade = .init(domains: ["example.edu"], target: entry)
        }
        let error = #expect(throws: HeaderRuleError.self) {
            _ = try HeaderRewriter(rules: rules)
        }
        #expect(error?.setting == "headers." + setting)
        #expect(error?.entry == entry)
        #expect(error?.description.contains("\"\(entry)\"") == true)
    }

    // MARK: Edits

    @Test("edits: prepend goes on top, append at the end, remove drops every copy")
    func edits() {
        let headers = Self.section("Received: a\nX-Spam: yes\nSubject: hi\nx-spam: again\n")
        let edited = HeaderRewriter.apply([
            .prepend(name: "Received-SPF", value: "pass (example.edu: 192.0.2.1 is permitted)"),
            .prepend(name: "Authentication-Results", value: "mx.example.edu; spf=pass"),
            .append(name: "X-Policy", value: "default"),
            .remove(name: "X-SPAM"),
        ], to: headers)
        #expect(edited.fields.map(\.name) == ["Authentication-Results", "Received-SPF", "Received", "Subject", "X-Policy"])
        #expect(edited.first("Received-SPF")?.rawValue == " pass (example.edu: 192.0.2.1 is permitted)")
        #expect(edited.first("Received")?.rawValue == " a")
    }
}
