import Foundation
import Testing
@testable import MailMessage

@Suite("Received field")
struct ReceivedHeaderTests {
    static func field(helo: String?, reverseName: String?, clientIP: String = "192.0.2.1", user: String? = nil,
                      recipient: String? = "rcpt@example.net") -> String {
        ReceivedHeader(helo: helo, reverseName: reverseName, clientIP: clientIP, byHost: "relay.example",
                       withProtocol: "ESMTP", id: "0005F1A2B3C4D5E6", forRecipient: recipient,
                       date: Date(timeIntervalSince1970: 1_800_000_000), authenticatedUser: user).rendered()
    }

    @Test func cleanWordsAreKept() {
        let text = Self.field(helo: "mx.example.org", reverseName: "mx.example.org", user: "bob")
        #expect(text.hasPrefix("Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n"
            + "\tby relay.example with ESMTP (authenticated as bob) id 0005F1A2B3C4D5E6\r\n\tfor <rcpt@example.net>; "))
        #expect(text.hasSuffix("\r\n"))
    }

    /// Comment-ending characters and controls in client words become "_";
    /// a HELO that is no domain is replaced by the address literal.
    @Test func clientWordsCannotBreakTheField() {
        let text = Self.field(helo: "evil) by x", reverseName: "a(b)<c>\\d;e\u{1}f\u{7F}g",
                              clientIP: "2001:db8::1", user: "u;ser\r\nX-Injected: 1")
        #expect(text.hasPrefix("Received: from [IPv6:2001:db8::1] (a_b__c__d_e_f_g [IPv6:2001:db8::1])\r\n"
            + "\tby relay.example with ESMTP (authenticated as u_ser__X-Injected: 1) id 0005F1A2B3C4D5E6"))
    }

    /// Long words are cut (255 scalars in comments, 600 in the path); a
    /// path keeps its quoting, only controls are replaced.
    @Test func longWordsAreCutAndPathsKeepQuoting() {
        #expect(ReceivedHeader.sanitize(String(repeating: "é", count: 300)) == String(repeating: "é", count: 255))
        #expect(ReceivedHeader.sanitize(String(repeating: "a", count: 300)).count == 255)
        #expect(ReceivedHeader.sanitizePath("\"a;<b>\\\"\"@example.org") == "\"a;<b>\\\"\"@example.org")
        #expect(ReceivedHeader.sanitizePath("a\u{0}b@example.org") == "a_b@example.org")
        #expect(ReceivedHeader.sanitizePath(String(repeating: "x", count: 700)).count == 600)
        #expect(ReceivedHeader.sanitize("plain") == "plain")
    }
}
