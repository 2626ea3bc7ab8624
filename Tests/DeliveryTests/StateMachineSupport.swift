import NIOCore
import SMTPCore
@testable import Delivery

typealias Action = ClientSessionStateMachine.Action

/// Parses reply text as a server would send it ("250-a\r\n250 b" or "250 ok").
func reply(_ text: String) -> SMTPReply {
    var buffer = ByteBuffer(string: text.hasSuffix("\n") ? text : text + "\r\n")
    var parser = ReplyParser()
    return try! parser.next(&buffer)!
}

let ehloPipelining = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES"
let ehloPlain = "250-mx.test\r\n250-SIZE 1000000\r\n250 8BITMIME"

func message(_ recipients: [String] = ["a@x.test", "b@x.test"], size: Int = 123, eightBit: Bool = false,
             utf8: Bool = false, sender: String = "s@y.test") -> OutboundMessage {
    OutboundMessage(id: "Q1", sender: sender, recipients: recipients, size: size, eightBitMIME: eightBit,
                    smtpUTF8: utf8, body: .bytes(ByteBuffer(string: "Subject: t\r\n\r\nhi\r\n")))
}

func options(tls: TLSPolicy = .none, credentials: ClientCredentials? = nil, plaintextAuth: Bool = false) -> ClientOptions {
    ClientOptions(heloName: "client.test", tlsPolicy: tls, credentials: credentials, allowPlaintextAuth: plaintextAuth)
}

/// Drives a machine through greeting and EHLO to `.ready`.
func readyMachine(ehlo: String = ehloPipelining, options: ClientOptions = options()) -> ClientSessionStateMachine {
    var machine = ClientSessionStateMachine(options: options)
    _ = machine.receive(reply("220 mx.test ESMTP"))
    let action = machine.receive(reply(ehlo))
    guard case .ready = action else { fatalError("not ready: \(action)") }
    return machine
}

extension Action {
    var commands: [ClientCommand]? {
        if case .send(let commands) = self { return commands }
        return nil
    }

    var outcome: MessageOutcome? {
        if case .finishMessage(let outcome, _) = self { return outcome }
        return nil
    }

    var closeMode: ClientSessionStateMachine.CloseMode?? {
        if case .finishMessage(_, let mode) = self { return .some(mode) }
        if case .failSession(_, let mode) = self { return .some(mode) }
        return nil
    }

    var failure: DeliveryReason? {
        if case .failSession(let reason, _) = self { return reason }
        return nil
    }

    var session: SessionInfo? {
        if case .ready(let info) = self { return info }
        return nil
    }
}

extension RecipientOutcome {
    var code: Int? {
        switch self {
        case .delivered(let reply): return reply.code
        case .deferred(.reply(let reply, _)), .failed(.reply(let reply, _)): return reply.code
        case .deferred(.local), .failed(.local): return nil
        }
    }

    var statusCode: String {
        switch self {
        case .delivered(let reply): return reply.enhanced?.description ?? "2.0.0"
        case .deferred(let reason), .failed(let reason): return reason.statusCode.description
        }
    }
}

extension MessageOutcome {
    var allDelivered: Bool { recipients.allSatisfy(\.isDelivered) }
    var allDeferred: Bool { recipients.allSatisfy(\.isDeferred) }
    var allFailed: Bool { recipients.allSatisfy(\.isFailed) }
}
