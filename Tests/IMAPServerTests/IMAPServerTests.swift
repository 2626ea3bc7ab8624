import Foundation
import IMAPCore
import Logging
import MailStore
import NIOCore
import Testing
@testable import IMAPServer
import SMTPServer

@Suite("IMAP server pieces")
struct IMAPServerTests {
    @Test(arguments: [
        ("*", "INBOX", true), ("%", "Release", true), ("inbox", "INBOX", true), ("INBOX", "INBOX", true),
        ("Rel*", "Release", true), ("*e", "Release", true), ("R%e", "Release", true), ("Release", "release", false),
        ("%", "a/b", false), ("*", "a/b", true), ("", "INBOX", false), ("Q*", "Release", false),
        ("********************************x", "Quarantine", false),
    ])
    func listPatterns(pattern: String, name: String, matches: Bool) {
        #expect(MailboxPattern.matches(pattern, name) == matches)
    }

    @Test func aLongPatternIsCheap() {
        let pattern = String(repeating: "*a", count: 4000)
        #expect(!MailboxPattern.matches(pattern, "Quarantine"))
    }

    static func session() -> IMAPSession {
        struct NoAccounts: MailAccounts {
            func account(for user: String) -> any MailAccount { fatalError("no logins in this test") }
        }
        let context = IMAPServerContext(hostname: "mx.test", tls: nil, implicitTLS: false, allowPlaintextAuth: false,
                                        accounts: NoAccounts(), auth: { (nil, nil) }, logger: Logger(label: "test"))
        return IMAPSession(context: context, clientAddress: "127.0.0.1", isTLS: false)
    }

    static func messages(_ uids: [UInt32]) -> [StoredMessage] {
        uids.map { StoredMessage(uid: $0, size: 1, internalDate: Date(), flags: [], recent: false, uniqueName: "\($0)", queueID: nil) }
    }

    @Test func sequenceSetsResolveAsRFC3501Says() async throws {
        let session = Self.session()
        let messages = Self.messages([3, 7, 9, 20])
        func resolve(_ text: String, uid: Bool) async throws -> [Int] {
            var input = ByteBuffer(string: "a FETCH \(text) FLAGS")
            guard case .fetch(let set, _) = try IMAPCommandParser.parse(input.readBytes(length: input.readableBytes)!).command
            else { Issue.record("not a fetch"); return [] }
            return await session.resolve(set, byUID: uid, messages)
        }
        #expect(try await resolve("1:*", uid: false) == [0, 1, 2, 3])
        #expect(try await resolve("*:3", uid: false) == [2, 3])
        #expect(try await resolve("2,4,9", uid: false) == [1, 3])
        #expect(try await resolve("7:9", uid: true) == [1, 2])
        #expect(try await resolve("8", uid: true) == [])
        // "n:*" names the last message even when n is past it (RFC 3501 §6.4.8).
        #expect(try await resolve("100:*", uid: true) == [3])
        #expect(try await resolve("*", uid: true) == [3])
    }

    @Test func loginIsRefusedWithoutTLSAndCapabilitiesSaySo() async {
        let session = Self.session()
        let greeting = String(decoding: await session.greeting().bytes, as: UTF8.self)
        #expect(greeting.contains("LOGINDISABLED"))
        #expect(!greeting.contains("AUTH=PLAIN"))
        let out = await session.handle(TaggedCommand(tag: "a", command: .login(username: "u", password: SecretBytes("p"))))
        #expect(String(decoding: out.bytes, as: UTF8.self) == "a NO [PRIVACYREQUIRED] Use STARTTLS first\r\n")
        let select = await session.handle(TaggedCommand(tag: "b", command: .select("INBOX")))
        #expect(String(decoding: select.bytes, as: UTF8.self) == "b BAD Log in first\r\n")
    }
}

@Suite("IMAP sessions per user and address")
struct IMAPUserSessionTests {
    struct Accounts: MailAccounts {
        struct Account: MailAccount {
            let user: String
            var isAdministrator: Bool { false }
            func mailboxes() -> [MailboxInfo] { [] }
            func open(_ name: String) throws(MailStoreError) -> any MailboxView { throw .noSuchMailbox(name) }
        }
        func account(for user: String) -> any MailAccount { Account(user: user) }
    }

    static let passwords: PasswordFile = {
        let path = NSTemporaryDirectory() + "postern-imap-passwd-" + UUID().uuidString
        let hash = try! PasswordHash.make(password: "secret", scheme: .sha512)
        try! "alice:\(hash)\nbob:\(hash)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return PasswordFile(path: path)
    }()

    static func session(_ sessions: IMAPUserSessions, from address: String = "192.0.2.7") -> IMAPSession {
        var context = IMAPServerContext(hostname: "mx.test", tls: nil, implicitTLS: false, allowPlaintextAuth: true,
                                        accounts: Accounts(), auth: { (Self.passwords, nil) }, logger: Logger(label: "test"))
        context.userSessions = sessions
        return IMAPSession(context: context, clientAddress: address, isTLS: false)
    }

    static func login(_ session: IMAPSession, _ user: String, _ password: String = "secret") async -> String {
        let out = await session.handle(TaggedCommand(tag: "a", command: .login(username: user, password: SecretBytes(password))))
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func theLimitCountsPerUserAndAddress() {
        let sessions = IMAPUserSessions(limit: 2)
        #expect(sessions.acquire(user: "alice", address: "192.0.2.7"))
        #expect(sessions.acquire(user: "alice", address: "192.0.2.7"))
        #expect(!sessions.acquire(user: "alice", address: "192.0.2.7"))
        #expect(sessions.acquire(user: "alice", address: "192.0.2.8"))
        #expect(sessions.acquire(user: "bob", address: "192.0.2.7"))
        sessions.release(user: "alice", address: "192.0.2.7")
        #expect(sessions.acquire(user: "alice", address: "192.0.2.7"))
        // A release without a place held changes nothing.
        sessions.release(user: "carol", address: "192.0.2.7")
        #expect(sessions.held(user: "carol", address: "192.0.2.7") == 0)
    }

    @Test func aLoginOverTheLimitIsRefusedAndAnEndedSessionGivesItsPlaceBack() async {
        let sessions = IMAPUserSessions(limit: 2)
        let first = Self.session(sessions), second = Self.session(sessions), third = Self.session(sessions)
        #expect(await Self.login(first, "alice").hasPrefix("a OK "))
        #expect(await Self.login(second, "alice").hasPrefix("a OK "))
        #expect(await Self.login(third, "alice") == "a NO [UNAVAILABLE] Maximum number of connections from user+IP exceeded\r\n")
        #expect(await !third.isAuthenticated)
        // A wrong password takes no place; another user and another address have their own.
        #expect(await Self.login(third, "alice", "wrong").hasPrefix("a NO [AUTHENTICATIONFAILED]"))
        #expect(await Self.login(Self.session(sessions), "bob").hasPrefix("a OK "))
        #expect(await Self.login(Self.session(sessions, from: "192.0.2.8"), "alice").hasPrefix("a OK "))
        #expect(sessions.held(user: "alice", address: "192.0.2.7") == 2)
        await first.ended()
        await first.ended() // twice: given back once
        #expect(sessions.held(user: "alice", address: "192.0.2.7") == 1)
        #expect(await Self.login(third, "alice").hasPrefix("a OK "))
        // A session that ended while its login ran gives the place back at once.
        await second.ended()
        await third.ended()
        let late = Self.session(sessions)
        await late.ended()
        #expect(await Self.login(late, "alice").hasPrefix("a OK "))
        #expect(sessions.held(user: "alice", address: "192.0.2.7") == 0)
    }

    /// The connection closes while the password is being checked (the
    /// session's actor runs ended() during the verify's suspension): the
    /// place the login then takes is given back. Whichever order the two
    /// run in, nothing stays held. Without the give-back, 2 to 11 of the 50
    /// stayed held in four runs: some ended() calls do land inside the check.
    @Test func sessionsThatEndWhileTheirLoginRunsHoldNoPlace() async {
        let sessions = IMAPUserSessions(limit: 1000)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                let session = Self.session(sessions)
                group.addTask { _ = await Self.login(session, "alice") }
                group.addTask {
                    try? await Task.sleep(for: .microseconds(100))
                    await session.ended()
                }
            }
        }
        #expect(sessions.held(user: "alice", address: "192.0.2.7") == 0)
    }
}
