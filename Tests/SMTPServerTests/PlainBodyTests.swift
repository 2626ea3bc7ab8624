import Foundation
import MailQueue
import NIOCore
import Policy
import Synchronization
import Testing
@testable import SMTPCore
@testable import SMTPServer

/// What the server hands the first delivery with a committed body: whether
/// its lines are all plain (HeldBody.isPlain), in which case delivery sends
/// the octets without dot-stuffing them. The flag must never be set on
/// octets that stuffing would change, including the fields the server
/// writes itself.
@Suite("Plain bodies handed to delivery", .timeLimit(.minutes(1)))
struct PlainBodyTests {
    /// Adds a field at MAIL, long enough when asked to need breaking.
    struct Prepend: PolicyFilter {
        let name = "prepend"
        let phases: Set<PolicyPipeline.Phase> = [.mail]
        func mail(_ session: SessionFacts, _ message: MessageFacts) async -> PolicyVerdict {
            let long = message.sender.mailbox?.localPart == "long"
            return PolicyVerdict(.continue, headerEdits: [
                .prepend(name: "X-Note", value: long ? String(repeating: "n", count: 1200) : "short"),
            ])
        }
    }

    /// The definition: whole lines, each ending in CRLF with no other CR or
    /// LF, no NUL, at most 998 octets, none starting with ".".
    static func isPlain(_ bytes: [UInt8]) -> Bool {
        guard bytes.isEmpty || bytes.last == 10 else { return false }
        return bytes.split(separator: 10, omittingEmptySubsequences: false).dropLast().allSatisfy { line in
            line.last == 13 && line.count - 1 <= 998 && line.first != UInt8(ascii: ".")
                && !line.dropLast().contains(13) && !line.contains(0)
        }
    }

    /// Sends one message and returns the body handed over at commit.
    static func commit(_ content: String, sender: String = "a@example.org", bdat: Bool = false) async throws -> HeldBody? {
        let held = Mutex<[HeldBody?]>([])
        let h = try await HandlerHarness(policy: HandlerPolicyTests.policy(extra: [Prepend()]),
                                         onCommit: { _, body in held.withLock { $0.append(body) } })
        try await h.send("EHLO client.test\r\nMAIL FROM:<\(sender)>\r\nRCPT TO:<b@example.net>\r\n")
        _ = try await h.replies(10)
        if bdat {
            try await h.send("BDAT \(content.utf8.count) LAST\r\n" + content)
        } else {
            try await h.send("DATA\r\n")
            _ = try await h.replies(1)
            try await h.send(content + ".\r\n")
        }
        let reply = try await h.replies(1)[0]
        #expect(reply.hasPrefix("250 2.0.0"), "\(reply)")
        let envelope = try #require(try h.queued().first)
        let body = try #require(held.withLock { $0.first ?? nil })
        // The octets handed over are the spooled ones.
        #expect(Array(body.bytes.readableBytesView) == Array(try h.spooled(envelope.id).utf8))
        #expect(!body.isPlain || isPlain(Array(body.bytes.readableBytesView)), "called plain but is not")
        return body
    }

    @Test func ordinaryMessageIsPlain() async throws {
        let body = try #require(try await Self.commit("Subject: hi\r\n\r\nline one\r\nline two\r\n"))
        #expect(body.isPlain)
    }

    @Test func chunkedMessageIsPlainToo() async throws {
        let body = try #require(try await Self.commit("Subject: hi\r\n\r\nline one\r\n", bdat: true))
        #expect(body.isPlain)
    }

    @Test(arguments: [
        "Subject: hi\r\n\r\n..stuffed line\r\n",        // a line that starts with "." once unstuffed
        "Subject: hi\r\n\r\nbody\r\n..\r\n",            // a lone "." line
        "Subject: hi\r\n\r\n" + String(repeating: "x", count: 999) + "\r\n", // kept (long_lines), broken when sent
    ])
    func messagesThatStuffingWouldChangeAreNot(_ content: String) async throws {
        let body = try #require(try await Self.commit(content))
        #expect(!body.isPlain)
    }

    /// A field the server writes itself counts too: a prepended value too
    /// long for one line, and no header section at all.
    @Test func serverWrittenFieldsAreChecked() async throws {
        let long = try #require(try await Self.commit("Subject: hi\r\n\r\nbody\r\n", sender: "long@example.org"))
        #expect(!long.isPlain && !Self.isPlain(Array(long.bytes.readableBytesView)))
        let bare = try #require(try await Self.commit("no header section at all\r\n"))
        #expect(bare.isPlain == Self.isPlain(Array(bare.bytes.readableBytesView)))
    }
}
