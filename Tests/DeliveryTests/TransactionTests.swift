import NIOCore
import SMTPCore
import Testing
@testable import Delivery

@Suite("Client transactions (no NIO)")
struct TransactionTests {
    @Test func pipelinedDialogue() {
        var machine = readyMachine()
        let first = machine.startMessage(message(eightBit: true))
        #expect(first.commands == [
            .mail(from: "s@y.test", parameters: ["SIZE=123", "BODY=8BITMIME"]),
            .rcpt(to: "a@x.test"), .rcpt(to: "b@x.test"), .data,
        ])
        #expect(machine.awaiting == .mail)
        #expect(machine.receive(reply("250 2.1.0 Ok")) == .none)
        #expect(machine.awaiting == .rcpt)
        #expect(machine.receive(reply("250 2.1.5 Ok")) == .none)
        #expect(machine.receive(reply("250 2.1.5 Ok")) == .none)
        #expect(machine.awaiting == .data)
        #expect(machine.receive(reply("354 End data with <CR><LF>.<CR><LF>")) == .sendBody)
        #expect(machine.awaiting == .dataBlock)
        #expect(machine.bodySent() == .none)
        #expect(machine.awaiting == .endOfData)
        let done = machine.receive(reply("250 2.0.0 Ok: queued as ABC"))
        #expect(done.outcome?.recipients == Array(repeating: .delivered(reply("250 2.0.0 Ok: queued as ABC")), count: 2))
        #expect(done.closeMode == .some(nil))
        #expect(machine.isReady)
    }

    @Test func nonPipelinedDialogue() {
        var machine = readyMachine(ehlo: ehloPlain)
        #expect(machine.startMessage(message()).commands == [.mail(from: "s@y.test", parameters: ["SIZE=123"])])
        #expect(machine.receive(reply("250 ok")).commands == [.rcpt(to: "a@x.test")])
        #expect(machine.receive(reply("250 ok")).commands == [.rcpt(to: "b@x.test")])
        #expect(machine.receive(reply("250 ok")).commands == [.data])
        #expect(machine.receive(reply("354 go")) == .sendBody)
        _ = machine.bodySent()
        #expect(machine.receive(reply("250 ok")).outcome?.allDelivered == true)
    }

    @Test func partialRecipientRefusal() {
        var machine = readyMachine()
        _ = machine.startMessage(message())
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("550 5.1.1 No such user"))
        #expect(machine.receive(reply("354 go")) == .sendBody)
        _ = machine.bodySent()
        let outcome = machine.receive(reply("250 2.0.0 queued")).outcome
        #expect(outcome?.recipients[0].isDelivered == true)
        #expect(outcome?.recipients[1] == .failed(.reply(reply("550 5.1.1 No such user"), stage: .rcpt)))
    }

    @Test func allRecipientsRefusedPipelined() {
        var machine = readyMachine()
        _ = machine.startMessage(message())
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("450 4.2.1 mailbox busy"))
        _ = machine.receive(reply("550 5.1.1 unknown"))
        let done = machine.receive(reply("554 5.5.1 Error: no valid recipients"))
        #expect(done.outcome?.recipients.map(\.code) == [450, 550])
        #expect(done.outcome?.recipients[0].isDeferred == true)
        #expect(machine.isReady)
    }

    @Test func allRecipientsRefusedWithoutPipeliningSendsNoData() {
        var machine = readyMachine(ehlo: ehloPlain)
        _ = machine.startMessage(message())
        _ = machine.receive(reply("250 ok"))
        #expect(machine.receive(reply("550 no")).commands == [.rcpt(to: "b@x.test")])
        let done = machine.receive(reply("550 no"))
        #expect(done.outcome?.allFailed == true)
    }

    @Test func dataAcceptedWithNobodyToSendTo() {
        // RFC 2920 §3.1: a 354 after all RCPTs failed is answered with a lone ".".
        var machine = readyMachine()
        _ = machine.startMessage(message(["a@x.test"]))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("550 no"))
        #expect(machine.receive(reply("354 go")).commands == [.emptyMessageEnd])
        let done = machine.receive(reply("554 no valid recipients"))
        #expect(done.outcome?.recipients == [.failed(.reply(reply("550 no"), stage: .rcpt))])
    }

    @Test func mailRefusalAppliesToAll() {
        var machine = readyMachine()
        _ = machine.startMessage(message())
        _ = machine.receive(reply("451 4.3.0 try later"))
        _ = machine.receive(reply("503 5.5.1 need MAIL"))
        _ = machine.receive(reply("503 5.5.1 need MAIL"))
        let done = machine.receive(reply("503 5.5.1 need RCPT"))
        #expect(done.outcome?.recipients == Array(repeating: .deferred(.reply(reply("451 4.3.0 try later"), stage: .mail)), count: 2))
        var plain = readyMachine(ehlo: ehloPlain)
        _ = plain.startMessage(message())
        #expect(plain.receive(reply("553 5.7.1 sender rejected")).outcome?.allFailed == true)
    }

    @Test func endOfDataRefusal() {
        var machine = readyMachine()
        _ = machine.startMessage(message())
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("550 5.1.1 unknown"))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("354 go"))
        _ = machine.bodySent()
        let done = machine.receive(reply("554 5.7.1 content rejected"))
        #expect(done.outcome?.recipients == [
            .failed(.reply(reply("550 5.1.1 unknown"), stage: .rcpt)),
            .failed(.reply(reply("554 5.7.1 content rejected"), stage: .endOfData)),
        ])
    }

    @Test func closingReplyMidSession() {
        var machine = readyMachine()
        _ = machine.startMessage(message())
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("550 5.1.1 unknown"))
        let done = machine.receive(reply("421 4.3.2 shutting down"))
        #expect(done.outcome?.recipients == [
            .failed(.reply(reply("550 5.1.1 unknown"), stage: .rcpt)),
            .deferred(.reply(reply("421 4.3.2 shutting down"), stage: .rcpt)),
        ])
        #expect(done.closeMode == .some(.abort))
        #expect(machine.isClosed)
        #expect(machine.receive(reply("503 late")) == .none)
        let refused = machine.startMessage(message())
        #expect(refused.outcome?.allDeferred == true)
    }

    @Test func tooManyRecipientsIsTemporary() {
        var machine = readyMachine()
        _ = machine.startMessage(message())
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("552 5.5.3 too many recipients"))
        _ = machine.receive(reply("354 go"))
        _ = machine.bodySent()
        let outcome = machine.receive(reply("250 ok")).outcome
        #expect(outcome?.recipients[1].isDeferred == true)
    }

    @Test func sizeTooBigIsRefusedLocally() {
        var machine = readyMachine(ehlo: "250-mx.test\r\n250 SIZE 100")
        let action = machine.startMessage(message(size: 200))
        #expect(action.outcome?.recipients.map(\.statusCode) == ["5.3.4", "5.3.4"])
        #expect(action.outcome?.allFailed == true)
        #expect(machine.isReady)
        var ours = readyMachine(options: ClientOptions(heloName: "c.test", tlsPolicy: .none, maxMessageSize: 100))
        #expect(ours.startMessage(message(size: 200)).outcome?.recipients.first?.statusCode == "5.3.4")
    }

    @Test func smtpUTF8() {
        var without = readyMachine()
        let refused = without.startMessage(message(["ü@x.test"]))
        #expect(refused.outcome?.recipients == [.failed(.local(EnhancedStatusCode(5, 6, 7),
            "the message needs SMTPUTF8, which the next hop does not offer", stage: .mail))])
        #expect(without.startMessage(message(utf8: true)).outcome?.recipients.first?.statusCode == "5.6.7")
        var with = readyMachine(ehlo: "250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8")
        let sent = with.startMessage(message(["ü@x.test"], eightBit: true))
        #expect(sent.commands?.first == .mail(from: "s@y.test", parameters: ["BODY=8BITMIME", "SMTPUTF8"]))
    }

    @Test func badAddressesNeverReachTheWire() {
        var machine = readyMachine()
        let action = machine.startMessage(message(["ok@x.test", "evil@x.test>\r\nRSET", ""]))
        #expect(action.commands == [.mail(from: "s@y.test", parameters: ["SIZE=123"]), .rcpt(to: "ok@x.test"), .data])
        var sender = readyMachine()
        #expect(sender.startMessage(message(sender: "a\r\nb")).outcome?.recipients.first?.statusCode == "5.1.7")
        var null = readyMachine()
        #expect(null.startMessage(message(sender: "")).commands?.first == .mail(from: "", parameters: ["SIZE=123"]))
    }

    /// A reused connection goes straight to MAIL after a completed
    /// transaction (the server reset itself, RFC 5321 §4.1.1.4), and
    /// through RSET after one that ended before its data.
    @Test func rsetOnlyAfterATransactionThatDidNotEnd() {
        var machine = readyMachine()
        _ = machine.startMessage(message(["a@x.test"]))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("354 go"))
        _ = machine.bodySent()
        _ = machine.receive(reply("250 ok"))
        let second = machine.startMessage(message(["c@x.test"]))
        #expect(second.commands == [.mail(from: "s@y.test", parameters: ["SIZE=123"]), .rcpt(to: "c@x.test"), .data])
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("550 no such user"))
        let refused = machine.receive(reply("503 no valid recipients"))
        #expect(refused.outcome?.recipients.first?.isFailed == true)
        let third = machine.startMessage(message(["d@x.test"]))
        #expect(third.commands == [.rset, .mail(from: "s@y.test", parameters: ["SIZE=123"]), .rcpt(to: "d@x.test"), .data])
        #expect(machine.awaiting == .rset)
        let failed = machine.receive(reply("500 what"))
        #expect(failed.outcome?.allDeferred == true)
        #expect(failed.closeMode == .some(.quit))
    }

    @Test func timeoutsDeferWhatIsOpen() {
        var machine = readyMachine()
        _ = machine.startMessage(message())
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("550 no"))
        let action = machine.timedOut()
        #expect(action.outcome?.recipients[0].isFailed == true)
        #expect(action.outcome?.recipients[1] == .deferred(.local(EnhancedStatusCode(4, 4, 2), "timed out after 300 s", stage: .rcpt)))
        #expect(action.closeMode == .some(.abort))
    }

    @Test func lostConnectionAfterTheDot() {
        var machine = readyMachine()
        _ = machine.startMessage(message(["a@x.test"]))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("354 go"))
        _ = machine.bodySent()
        let action = machine.connectionClosed()
        #expect(action.outcome?.recipients.first?.isDeferred == true)
        #expect(action.outcome?.recipients.first.map { "\($0)" }?.contains("end of DATA") == true)
    }

    @Test func unexpectedReplyCodeIsAProtocolError() {
        var machine = readyMachine()
        _ = machine.startMessage(message(["a@x.test"]))
        let action = machine.receive(reply("354 what"))
        #expect(action.outcome?.recipients.first?.statusCode == "4.5.0")
        #expect(action.closeMode == .some(.abort))
    }

    @Test func bodyReadFailureDropsTheConnection() {
        var machine = readyMachine()
        _ = machine.startMessage(message(["a@x.test"]))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("354 go"))
        let action = machine.bodyFailed("no such file")
        #expect(action.outcome?.recipients.first?.statusCode == "4.3.0")
        #expect(action.closeMode == .some(.abort))
    }
}
