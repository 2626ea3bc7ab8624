import NIOCore
import SMTPCore
import Testing
@testable import Delivery

@Suite("Client session setup (no NIO)")
struct SessionSetupTests {
    @Test func ehloThenReady() {
        var machine = ClientSessionStateMachine(options: options())
        #expect(machine.awaiting == .greeting)
        #expect(machine.receive(reply("220 mx.test ESMTP")).commands == [.ehlo("client.test")])
        #expect(machine.awaiting == .ehlo)
        let info = machine.receive(reply(ehloPipelining)).session
        #expect(info?.esmtp == true)
        #expect(info?.capabilities.pipelining == true)
        #expect(info?.tls == false)
        #expect(machine.isReady && machine.awaiting == nil)
    }

    @Test func heloFallbackAfter5xx() {
        var machine = ClientSessionStateMachine(options: options())
        _ = machine.receive(reply("220 old.test"))
        #expect(machine.receive(reply("502 5.5.2 Error: command not recognized")).commands == [.helo("client.test")])
        let info = machine.receive(reply("250 old.test")).session
        #expect(info?.esmtp == false)
        // No ESMTP, so no 8BITMIME: 8-bit content is returned (RFC 6152 §3,
        // no conversion here) without a word on the wire...
        let refused = machine.startMessage(message(["a@x.test"], eightBit: true))
        #expect(refused.commands?.isEmpty ?? true)
        #expect(refused.outcome?.recipients.map { $0.isFailed } == [true])
        if case .failed(let reason)? = refused.outcome?.recipients.first {
            #expect(reason.statusCode.description == "5.6.3")
        }
        // ...while 7-bit content goes with no parameters on MAIL.
        let action = machine.startMessage(message(["a@x.test"], eightBit: false))
        #expect(action.commands == [.mail(from: "s@y.test", parameters: [])])
        #expect(machine.receive(reply("250 ok")).commands == [.rcpt(to: "a@x.test")])
        #expect(machine.receive(reply("250 ok")).commands == [.data])
        #expect(machine.receive(reply("354 go")) == .sendBody)
        #expect(machine.bodySent() == .none)
        let outcome = machine.receive(reply("250 ok")).outcome
        #expect(outcome?.recipients.map(\.isDelivered) == [true])
    }

    @Test func ehlo4xxFailsTheSession() {
        var machine = ClientSessionStateMachine(options: options())
        _ = machine.receive(reply("220 mx.test"))
        let action = machine.receive(reply("454 4.7.0 not now"))
        #expect(action.failure?.statusCode.description == "4.7.0")
        #expect(machine.isClosed)
    }

    @Test func greetingRefused() {
        var machine = ClientSessionStateMachine(options: options())
        let action = machine.receive(reply("554 5.7.1 go away"))
        #expect(action.failure == .reply(reply("554 5.7.1 go away"), stage: .greeting))
        #expect(action.closeMode == .some(.quit))
        var busy = ClientSessionStateMachine(options: options())
        #expect(busy.receive(reply("421 4.3.2 busy")).closeMode == .some(.abort))
    }

    @Test func tlsRequiredButNotOffered() {
        var machine = ClientSessionStateMachine(options: options(tls: .required))
        _ = machine.receive(reply("220 mx.test"))
        let action = machine.receive(reply(ehloPipelining))
        #expect(action.failure?.statusCode.description == "4.7.4")
        #expect(action.closeMode == .some(.quit))
    }

    @Test func startTLSThenEhloAgain() {
        var machine = ClientSessionStateMachine(options: options(tls: .opportunistic))
        _ = machine.receive(reply("220 mx.test"))
        #expect(machine.receive(reply("250-mx.test\r\n250-STARTTLS\r\n250 PIPELINING")).commands == [.startTLS])
        #expect(machine.receive(reply("220 2.0.0 Ready to start TLS")) == .startTLS)
        #expect(machine.awaiting == .tlsHandshake)
        #expect(machine.tlsStarted().commands == [.ehlo("client.test")])
        let info = machine.receive(reply("250-mx.test\r\n250 PIPELINING")).session
        #expect(info?.tls == true)
        #expect(info?.capabilities.startTLS == false)
    }

    @Test func opportunisticTLSRefusedGoesOnInPlaintext() {
        var machine = ClientSessionStateMachine(options: options(tls: .opportunistic))
        _ = machine.receive(reply("220 mx.test"))
        _ = machine.receive(reply("250-mx.test\r\n250 STARTTLS"))
        let info = machine.receive(reply("454 4.7.0 TLS not available")).session
        #expect(info?.tls == false)
    }

    @Test func requiredTLSRefused() {
        var machine = ClientSessionStateMachine(options: options(tls: .required))
        _ = machine.receive(reply("220 mx.test"))
        _ = machine.receive(reply("250-mx.test\r\n250 STARTTLS"))
        #expect(machine.receive(reply("454 4.7.0 TLS not available")).failure?.stage == .startTLS)
    }

    @Test func tlsHandshakeFailure() {
        var machine = ClientSessionStateMachine(options: options(tls: .required))
        _ = machine.receive(reply("220 mx.test"))
        _ = machine.receive(reply("250-mx.test\r\n250 STARTTLS"))
        _ = machine.receive(reply("220 go ahead"))
        let action = machine.tlsFailed("handshake failure")
        #expect(action.failure?.statusCode.description == "4.7.5")
        #expect(action.closeMode == .some(.abort))
    }

    @Test func authPlain() {
        let credentials = ClientCredentials(user: "alice", password: "s3cret")
        var machine = ClientSessionStateMachine(options: options(credentials: credentials, plaintextAuth: true))
        _ = machine.receive(reply("220 mx.test"))
        let action = machine.receive(reply("250-mx.test\r\n250 AUTH LOGIN PLAIN"))
        // base64("\0alice\0s3cret")
        #expect(action.commands == [.auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHMzY3JldA==")])
        #expect(machine.awaiting == .auth)
        #expect(machine.receive(reply("235 2.7.0 Authentication successful")).session?.authenticated == true)
    }

    @Test func authLoginWhenPlainIsMissing() {
        let credentials = ClientCredentials(user: "alice", password: "s3cret")
        var machine = ClientSessionStateMachine(options: options(credentials: credentials, plaintextAuth: true))
        _ = machine.receive(reply("220 mx.test"))
        #expect(machine.receive(reply("250-mx.test\r\n250 AUTH LOGIN")).commands == [.auth(mechanism: "LOGIN", initialResponse: nil)])
        #expect(machine.receive(reply("334 VXNlcm5hbWU6")).commands == [.authResponse("YWxpY2U=")])
        #expect(machine.receive(reply("334 UGFzc3dvcmQ6")).commands == [.authResponse("czNjcmV0")])
        #expect(machine.receive(reply("235 2.7.0 ok")).session?.authenticated == true)
    }

    @Test func authRefused() {
        let credentials = ClientCredentials(user: "alice", password: "wrong")
        var machine = ClientSessionStateMachine(options: options(credentials: credentials, plaintextAuth: true))
        _ = machine.receive(reply("220 mx.test"))
        _ = machine.receive(reply("250-mx.test\r\n250 AUTH PLAIN"))
        let action = machine.receive(reply("535 5.7.8 Authentication credentials invalid"))
        #expect(action.failure == .reply(reply("535 5.7.8 Authentication credentials invalid"), stage: .auth))
        #expect(action.closeMode == .some(.quit))
    }

    @Test func noCredentialsOverPlaintext() {
        let credentials = ClientCredentials(user: "alice", password: "s3cret")
        var machine = ClientSessionStateMachine(options: options(tls: .opportunistic, credentials: credentials))
        _ = machine.receive(reply("220 mx.test"))
        let action = machine.receive(reply("250-mx.test\r\n250 AUTH PLAIN"))
        #expect(action.failure?.statusCode.description == "4.7.0")
    }

    @Test func noUsableMechanism() {
        let credentials = ClientCredentials(user: "alice", password: "s3cret")
        var machine = ClientSessionStateMachine(options: options(credentials: credentials, plaintextAuth: true))
        _ = machine.receive(reply("220 mx.test"))
        let action = machine.receive(reply("250-mx.test\r\n250 AUTH CRAM-MD5"))
        #expect(action.failure?.description.contains("CRAM-MD5") == true)
    }

    @Test func timeoutAndLostConnectionDuringSetup() {
        var machine = ClientSessionStateMachine(options: options())
        let timeout = machine.timedOut()
        #expect(timeout.failure?.stage == .greeting)
        #expect(timeout.failure?.statusCode.description == "4.4.2")
        var other = ClientSessionStateMachine(options: options())
        _ = other.receive(reply("220 mx.test"))
        #expect(other.connectionClosed().failure?.stage == .ehlo)
        #expect(other.connectionClosed() == .none)
    }

    @Test func quitAndIdleReplies() {
        var machine = readyMachine()
        #expect(machine.quit().commands == [.quit])
        #expect(machine.awaiting == .quit)
        #expect(machine.receive(reply("221 2.0.0 Bye")) == .closed)
        var idle = readyMachine()
        #expect(idle.receive(reply("421 4.4.2 idle timeout")) == .closed)
        #expect(idle.isClosed)
    }
}
