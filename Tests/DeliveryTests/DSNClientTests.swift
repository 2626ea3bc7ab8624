import NIOCore
import SMTPCore
import Testing
@testable import Delivery

/// The DSN parameters on the client side (RFC 3461 §4, §5.2.1): passed on
/// to a next hop that offers DSN, left out otherwise.
@Suite("Client DSN parameters (no NIO)")
struct DSNClientTests {
    static let ehloDSN = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 DSN"
    static let ehloNoDSN = "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000000"

    static func dsnMessage() -> OutboundMessage {
        var outbound = message(["a@x.test", "b@x.test"])
        outbound.dsnReturn = .headers
        outbound.envelopeID = "abc+def"
        outbound.recipientParameters = [
            RecipientParameters(notify: [.success, .failure],
                                originalRecipient: OriginalRecipient(addressType: "rfc822", address: "bob@x")),
            RecipientParameters(),
        ]
        return outbound
    }

    /// Runs the whole pipelined dialogue, every reply positive.
    static func deliver(ehlo: String) -> (commands: [ClientCommand], outcome: MessageOutcome?) {
        var machine = readyMachine(ehlo: ehlo)
        let commands = machine.startMessage(dsnMessage()).commands ?? []
        for _ in 0..<3 { _ = machine.receive(reply("250 ok")) }
        _ = machine.receive(reply("354 go"))
        _ = machine.bodySent()
        return (commands, machine.receive(reply("250 2.0.0 queued")).outcome)
    }

    @Test func passedOnToANextHopThatOffersDSN() {
        let (commands, outcome) = Self.deliver(ehlo: Self.ehloDSN)
        #expect(commands == [
            .mail(from: "s@y.test", parameters: ["SIZE=123", "RET=HDRS", "ENVID=abc+2Bdef"]),
            .rcpt(to: "a@x.test", parameters: ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@x"]),
            .rcpt(to: "b@x.test"), .data,
        ])
        #expect(outcome?.allDelivered == true)
        #expect(outcome?.nextHopReportsDSN == true)
    }

    @Test func leftOutForOneThatDoesNot() {
        let (commands, outcome) = Self.deliver(ehlo: Self.ehloNoDSN)
        #expect(commands == [.mail(from: "s@y.test", parameters: ["SIZE=123"]), .rcpt(to: "a@x.test"), .rcpt(to: "b@x.test"), .data])
        #expect(outcome?.allDelivered == true)
        #expect(outcome?.nextHopReportsDSN == false)
    }

    @Test func rcptParametersAreWritten() {
        var buffer = ByteBuffer()
        ClientCommand.rcpt(to: "a@x.test", parameters: ["NOTIFY=NEVER", "ORCPT=rfc822;a+2Bb@x"]).write(into: &buffer)
        #expect(String(buffer: buffer) == "RCPT TO:<a@x.test> NOTIFY=NEVER ORCPT=rfc822;a+2Bb@x\r\n")
    }

    /// Who writes the success report (RFC 3461 §6.2.2): Postern for a
    /// Maildir ("delivered") and a next hop without DSN ("relayed"); the
    /// next hop itself when it took the DSN parameters.
    @Test("success action", arguments: [
        (Relay.host("mx.test", reportsDSN: false), "relayed"),
        (.host("mx.test", reportsDSN: true), nil),
        (.maildir("/var/mail/x"), "delivered"),
    ] as [(Relay, String?)])
    func successAction(relay: Relay, action: String?) {
        #expect(relay.successAction?.rawValue == action)
    }
}
