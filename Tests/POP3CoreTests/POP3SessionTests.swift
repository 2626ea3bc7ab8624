import IMAPCore
import SMTPCore
import Testing
@testable import POP3Core

@Suite("POP3 session state machine")
struct POP3SessionTests {
    typealias Action = POP3Session.Action

    static let messages = [
        POP3Message(uid: 10, size: 120, uniqueID: "1700000000.M1P1.host", queueID: "Q1"),
        POP3Message(uid: 11, size: 200, uniqueID: "1700000001.M2P1.host"),
        POP3Message(uid: 15, size: 30, uniqueID: "1700000002.M3P1.host"),
    ]

    static func session(tls: Bool = true, plaintext: Bool = false, tlsAvailable: Bool = true) -> POP3Session {
        POP3Session(configuration: .init(hostname: "mx.example", tlsAvailable: tlsAvailable, allowPlaintextAuth: plaintext),
                    tlsActive: tls)
    }

    /// A session logged in as alice over TLS with `messages`.
    static func loggedIn() -> POP3Session {
        var session = session()
        _ = session.receive(.user("alice"))
        #expect(session.receive(.pass(SecretBytes("pw"))) == .verify(SASLCredentials(user: "alice", password: "pw")))
        #expect(session.authenticationFinished(.valid) == .openMaildrop(user: "alice"))
        #expect(session.maildropOpened(messages) == .reply(.ok("Logged in, 3 messages (350 octets)")))
        return session
    }

    static func run(_ session: inout POP3Session, _ line: String) -> Action {
        do {
            return session.receive(try POP3CommandParser.parse(Array(line.utf8)))
        } catch {
            return session.receive(error)
        }
    }

    @Test("greeting carries no APOP timestamp")
    func greeting() {
        #expect(Self.session().greeting.description == "+OK mx.example POP3 server ready")
    }

    // MARK: AUTHORIZATION

    @Test("USER then PASS logs in and opens the maildrop")
    func userPass() {
        let session = Self.loggedIn()
        #expect(session.state == .transaction)
        #expect(session.authenticatedUser == "alice")
    }

    @Test("before TLS, credentials are refused unless plaintext is allowed")
    func plaintextRefused() {
        var session = Self.session(tls: false)
        let refused = Action.reply(.err("Plaintext authentication disallowed on non-secure connections, use STLS", code: .auth))
        #expect(Self.run(&session, "USER alice") == refused)
        #expect(Self.run(&session, "PASS pw") == refused)
        #expect(Self.run(&session, "AUTH PLAIN AGFsaWNlAHB3") == refused)
        #expect(Self.run(&session, "AUTH") == .listing(POP3Listing(.ok("Mechanisms follow"), lines: [])))

        var allowed = Self.session(tls: false, plaintext: true)
        #expect(Self.run(&allowed, "USER alice") == .reply(.ok("Send PASS")))
    }

    @Test("CAPA lists what each state and connection allows")
    func capabilities() {
        let base = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        var plain = Self.session(tls: false)
        #expect(Self.run(&plain, "CAPA") == .listing(POP3Listing(.ok("Capability list follows"), lines: base + ["STLS"])))
        var secure = Self.session()
        #expect(Self.run(&secure, "CAPA") == .listing(POP3Listing(.ok("Capability list follows"), lines: base + ["USER", "SASL PLAIN"])))
        var noTLS = Self.session(tls: false, plaintext: true, tlsAvailable: false)
        #expect(Self.run(&noTLS, "CAPA") == .listing(POP3Listing(.ok("Capability list follows"), lines: base + ["USER", "SASL PLAIN"])))
        var session = Self.loggedIn()
        #expect(Self.run(&session, "CAPA") == .listing(POP3Listing(.ok("Capability list follows"), lines: base)))
    }

    @Test("STLS only in AUTHORIZATION, only once, and it forgets USER")
    func stls() {
        var session = Self.session(tls: false, plaintext: true)
        _ = Self.run(&session, "USER alice")
        #expect(Self.run(&session, "STLS") == .startTLS(.ok("Begin TLS negotiation")))
        session.tlsEstablished()
        #expect(session.state == .authorization(user: nil))
        #expect(Self.run(&session, "PASS pw") == .reply(.err("Send USER first")))
        #expect(Self.run(&session, "STLS") == .reply(.err("Already using TLS")))

        var noTLS = Self.session(tls: false, tlsAvailable: false)
        #expect(Self.run(&noTLS, "STLS") == .reply(.err("STLS not available")))
        var loggedIn = Self.loggedIn()
        #expect(Self.run(&loggedIn, "STLS") == .reply(.err("Already logged in")))
    }

    @Test("AUTH PLAIN with an initial response, with a continuation, and cancelled")
    func authPlain() {
        let credentials = SASLCredentials(user: "alice", password: "pw")
        var session = Self.session()
        #expect(Self.run(&session, "AUTH PLAIN AGFsaWNlAHB3") == .verify(credentials))

        var continued = Self.session()
        #expect(Self.run(&continued, "AUTH PLAIN") == .saslChallenge)
        #expect(continued.isAwaitingSASLResponse)
        #expect(continued.saslResponse(SecretBytes("AGFsaWNlAHB3")) == .verify(credentials))

        var cancelled = Self.session()
        _ = Self.run(&cancelled, "AUTH PLAIN")
        #expect(cancelled.saslResponse(SecretBytes("*")) == .reply(.err("Authentication cancelled")))
        #expect(cancelled.state == .authorization(user: nil))

        var garbled = Self.session()
        _ = Self.run(&garbled, "AUTH PLAIN")
        #expect(garbled.saslResponse(SecretBytes("not base64!")) == .reply(.err("Cannot decode response")))
        #expect(Self.run(&garbled, "AUTH PLAIN =") == .reply(.err("Cannot decode response")))

        var other = Self.session()
        #expect(Self.run(&other, "AUTH CRAM-MD5") == .reply(.err("Unsupported authentication mechanism")))
        #expect(Self.run(&other, "AUTH") == .listing(POP3Listing(.ok("Mechanisms follow"), lines: ["PLAIN"])))
    }

    @Test("a SASL response line over the limit ends the exchange")
    func saslTooLong() {
        var session = Self.session()
        _ = Self.run(&session, "AUTH PLAIN")
        #expect(session.lineTooLong() == .reply(.err("Authentication response too long")))
        #expect(session.state == .authorization(user: nil))
    }

    @Test("wrong passwords: -ERR [AUTH], USER again, closed after the limit")
    func wrongPasswords() {
        var session = Self.session()
        for attempt in 1...3 {
            _ = Self.run(&session, "USER alice")
            _ = Self.run(&session, "PASS wrong")
            let result = session.authenticationFinished(.invalid(limitReached: false))
            let reply = POP3Reply.err("Authentication failed", code: .auth)
            #expect(result == (attempt < 3 ? .reply(reply) : .close(reply)))
            #expect(reply.description == "-ERR [AUTH] Authentication failed")
        }
        var throttled = Self.session()
        _ = Self.run(&throttled, "AUTH PLAIN AGFsaWNlAHB3")
        #expect(throttled.authenticationFinished(.invalid(limitReached: true)) == .close(.err("Authentication failed", code: .auth)))
        #expect(throttled.state == .closed)
    }

    @Test("a password back end fault and a busy maildrop are temporary")
    func temporaryFailures() {
        var session = Self.session()
        _ = Self.run(&session, "USER alice")
        _ = Self.run(&session, "PASS pw")
        #expect(session.authenticationFinished(.unavailable)
            == .reply(.err("Authentication temporarily unavailable", code: .systemTemporary)))
        _ = Self.run(&session, "USER alice")
        _ = Self.run(&session, "PASS pw")
        _ = session.authenticationFinished(.valid)
        let inUse = session.maildropFailed(.inUse)
        #expect(inUse == .reply(.err("Maildrop already in use by another session", code: .inUse)))
        #expect(POP3Reply.err("x", code: .inUse).description == "-ERR [IN-USE] x")
        #expect(session.state == .authorization(user: nil))
    }

    @Test("commands of TRANSACTION are refused before login")
    func beforeLogin() {
        for line in ["STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL", "PASS x"] {
            var session = Self.session()
            guard case .reply(let reply) = Self.run(&session, line) else {
                Issue.record("\(line) was not refused")
                continue
            }
            #expect(!reply.isOK, "\(line)")
        }
    }

    @Test("QUIT in AUTHORIZATION closes without UPDATE")
    func quitBeforeLogin() {
        var session = Self.session()
        #expect(Self.run(&session, "QUIT") == .close(.ok("mx.example POP3 server signing off")))
    }

    // MARK: TRANSACTION

    @Test("STAT, LIST and UIDL")
    func listings() {
        var session = Self.loggedIn()
        #expect(Self.run(&session, "STAT") == .reply(.ok("3 350")))
        #expect(Self.run(&session, "LIST") == .listing(POP3Listing(.ok("3 messages (350 octets)"), lines: ["1 120", "2 200", "3 30"])))
        #expect(Self.run(&session, "LIST 2") == .reply(.ok("2 200")))
        #expect(Self.run(&session, "LIST 4") == .reply(.err("No such message")))
        #expect(Self.run(&session, "UIDL") == .listing(POP3Listing(.ok("Unique-ID listing follows"), lines: [
            "1 1700000000.M1P1.host", "2 1700000001.M2P1.host", "3 1700000002.M3P1.host",
        ])))
        #expect(Self.run(&session, "UIDL 3") == .reply(.ok("3 1700000002.M3P1.host")))
    }

    @Test("RETR and TOP ask the server for the message")
    func retrieve() {
        var session = Self.loggedIn()
        #expect(Self.run(&session, "RETR 2") == .retrieve(Self.messages[1], number: 2, bodyLines: nil))
        #expect(Self.run(&session, "TOP 1 5") == .retrieve(Self.messages[0], number: 1, bodyLines: 5))
        #expect(Self.run(&session, "RETR 9") == .reply(.err("No such message")))
        #expect(session.retrievalReply(Self.messages[1], bodyLines: nil) == .ok("200 octets"))
        #expect(session.retrievalFailed(gone: true) == .err("Message no longer available"))
    }

    @Test("DELE hides a message until RSET; QUIT removes the marked ones")
    func deleteAndReset() {
        var session = Self.loggedIn()
        #expect(Self.run(&session, "DELE 1") == .markedDeleted(Self.messages[0], number: 1, .ok("Message 1 deleted")))
        #expect(Self.run(&session, "DELE 1") == .reply(.err("Message 1 already deleted")))
        #expect(Self.run(&session, "RETR 1") == .reply(.err("Message 1 already deleted")))
        #expect(Self.run(&session, "TOP 1 0") == .reply(.err("Message 1 already deleted")))
        #expect(Self.run(&session, "LIST 1") == .reply(.err("Message 1 already deleted")))
        #expect(Self.run(&session, "STAT") == .reply(.ok("2 230")))
        #expect(Self.run(&session, "LIST") == .listing(POP3Listing(.ok("2 messages (230 octets)"), lines: ["2 200", "3 30"])))
        #expect(Self.run(&session, "RSET") == .reply(.ok("Maildrop has 3 messages (350 octets)")))
        #expect(Self.run(&session, "STAT") == .reply(.ok("3 350")))
        _ = Self.run(&session, "DELE 3")
        _ = Self.run(&session, "DELE 1")
        #expect(Self.run(&session, "QUIT") == .update([Self.messages[0], Self.messages[2]]))
        #expect(session.state == .update)
        #expect(session.updateFinished(notRemoved: 0) == .close(.ok("mx.example POP3 server signing off (1 messages left)")))
    }

    @Test("UPDATE that could not remove everything answers -ERR")
    func updateFailure() {
        var session = Self.loggedIn()
        _ = Self.run(&session, "DELE 2")
        _ = Self.run(&session, "QUIT")
        #expect(session.updateFinished(notRemoved: 1) == .close(.err("1 deleted messages not removed", code: .systemTemporary)))
    }

    @Test("QUIT with nothing marked signs off at once; timeouts never update")
    func quitWithoutMarks() {
        var session = Self.loggedIn()
        #expect(Self.run(&session, "QUIT") == .close(.ok("mx.example POP3 server signing off (3 messages left)")))
        var idle = Self.loggedIn()
        _ = Self.run(&idle, "DELE 1")
        #expect(idle.timedOut() == .close(.err("Autologout: idle for too long")))
        #expect(idle.state == .closed)
    }

    @Test("too many bad commands close the session")
    func badCommands() {
        var session = Self.session()
        for _ in 1..<POP3Defaults.limits.maxBadCommands {
            #expect(Self.run(&session, "FROB") == .reply(.err("Unknown command FROB")))
        }
        #expect(Self.run(&session, "FROB") == .close(.err("Too many bad commands")))
    }

    @Test("unique IDs outside RFC 1939's alphabet get the fallback")
    func uniqueIDs() {
        #expect(POP3Message.uniqueID(name: "1700000000.M1P1.host", fallback: "x") == "1700000000.M1P1.host")
        #expect(POP3Message.uniqueID(name: "with space", fallback: "7.1") == "7.1")
        #expect(POP3Message.uniqueID(name: "", fallback: "7.1") == "7.1")
        #expect(POP3Message.uniqueID(name: String(repeating: "a", count: 71), fallback: "7.1") == "7.1")
        #expect(POP3Message.uniqueID(name: "caf\u{e9}", fallback: "7.1") == "7.1")
    }
}
