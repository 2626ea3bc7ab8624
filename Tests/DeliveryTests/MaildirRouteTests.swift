import Foundation
import MailQueue
import Testing

/// `maildir:` route templates: what they accept, how an address expands,
/// and that no address can lead a path out of its place.
@Suite("Maildir route templates")
struct MaildirRouteTests {
    static let route = try! MaildirRoute(parsing: "maildir:/var/mail/%d/%u")

    @Test(arguments: [
        ("bob@example.org", "/var/mail/example.org/bob"),
        ("Bob@Example.ORG", "/var/mail/example.org/bob"),
        ("\"john doe\"@example.org", "/var/mail/example.org/john doe"),
        ("\"b\\\"o\"@example.org", "/var/mail/example.org/b\"o"),
        ("Jürgen@Bücher.example", "/var/mail/bücher.example/jürgen"),
        ("bob+tag@example.org", "/var/mail/example.org/bob+tag"),
        ("x.y@[192.0.2.1]", "/var/mail/[192.0.2.1]/x.y"),
        ("\"a@b\"@example.org", "/var/mail/example.org/a@b"),
    ])
    func expands(address: String, path: String) throws {
        #expect(try Self.route.expand(address) == path)
        #expect(Self.route.path(for: address) == path)
    }

    @Test(arguments: [
        ("maildir:/srv/%a/Maildir", "/srv/bob@example.org/Maildir"),
        ("maildir:/srv/100%%/%u", "/srv/100%/bob"),
        ("maildir:/srv/catchall", "/srv/catchall"),
        ("maildir:/srv/%d-%u.box", "/srv/example.org-bob.box"),
    ])
    func escapes(template: String, path: String) throws {
        let route = try MaildirRoute(parsing: template)
        #expect(try route.expand("Bob@example.org") == path)
        #expect(route.description == template)
    }

    /// Postmaster has no domain: the routed domain (our hostname) stands in.
    @Test func postmasterTakesTheRoutedDomain() throws {
        #expect(try Self.route.expand("Postmaster", domain: "Relay.Test") == "/var/mail/relay.test/postmaster")
        #expect(throws: MaildirRoute.AddressError.notAnAddress("Postmaster")) { try Self.route.expand("Postmaster") }
    }

    @Test(arguments: [
        ("a/b@example.org", MaildirRoute.AddressError.unsafe(part: "local part", reason: "contains \"/\"")),
        ("\"..\"@example.org", .unsafe(part: "local part", reason: "starts with \".\"")),
        ("\".\"@example.org", .unsafe(part: "local part", reason: "starts with \".\"")),
        ("\".hidden\"@example.org", .unsafe(part: "local part", reason: "starts with \".\"")),
        ("\"../../etc\"@example.org", .unsafe(part: "local part", reason: "starts with \".\"")),
        ("\"x/../../etc\"@example.org", .unsafe(part: "local part", reason: "contains \"/\"")),
        ("bob", .notAnAddress("bob")),
        ("bob@", .notAnAddress("bob@")),
        ("@relay.test:bob@example.org", .notAnAddress("@relay.test:bob@example.org")),
        ("\"a\u{0}b\"@example.org", .notAnAddress("\"a\u{0}b\"@example.org")),
        ("\"a\r\nb\"@example.org", .notAnAddress("\"a\r\nb\"@example.org")),
        ("a\u{7F}b@example.org", .notAnAddress("a\u{7F}b@example.org")),
        ("", .notAnAddress("")),
    ])
    func refuses(address: String, error: MaildirRoute.AddressError) {
        #expect(throws: error) { try Self.route.expand(address) }
        #expect(Self.route.path(for: address) == nil)
    }

    /// Whatever the local part, the expansion is one name right under
    /// the domain's directory, or nothing.
    @Test func noLocalPartLeavesItsDirectory() {
        let pieces = ["", ".", "..", "/", "a", "\\", "%", "\"", " ", "\u{7F}", "\u{0}", "\r\n", "é", "@", "~"]
        var expanded = 0
        for first in pieces {
            for second in pieces {
                for third in pieces {
                    let local = first + second + third
                    let quoted = "\"" + local.replacingOccurrences(of: "\\", with: "\\\\")
                        .replacingOccurrences(of: "\"", with: "\\\"") + "\""
                    for address in [local + "@example.org", quoted + "@example.org"] {
                        guard let path = Self.route.path(for: address) else { continue }
                        expanded += 1
                        let name = path.dropFirst("/var/mail/example.org/".count)
                        #expect(path.hasPrefix("/var/mail/example.org/"), "\(address) → \(path)")
                        #expect(!name.isEmpty && !name.contains("/") && !name.hasPrefix("."), "\(address) → \(path)")
                        #expect(!name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(address)")
                    }
                }
            }
        }
        #expect(expanded > 1000) // the check above saw real expansions
    }

    @Test(arguments: [
        ("/var/mail/%d/%u", MaildirRoute.TemplateError.notMaildir),
        ("smtp:/var/mail", .notMaildir),
        ("maildir:", .notAbsolute),
        ("maildir:var/mail/%d/%u", .notAbsolute),
        ("maildir:~/Maildir", .notAbsolute),
        ("maildir:/var/mail/%z", .unknownEscape("%z")),
        ("maildir:/var/mail/%U", .unknownEscape("%U")),
        ("maildir:/var/mail/%", .danglingPercent),
        ("maildir:/var/mail/%%%", .danglingPercent),
        ("maildir:/var/mail/\n%u", .controlCharacter),
        ("maildir:/var/mail/\u{0}", .controlCharacter),
    ])
    func badTemplates(text: String, error: MaildirRoute.TemplateError) {
        #expect(throws: error) { try MaildirRoute(parsing: text) }
    }
}
