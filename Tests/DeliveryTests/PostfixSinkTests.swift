import Foundation
import Logging
import NIOCore
import NIOPosix
import SMTPCore
import Testing
@testable import Delivery

/// Writes `content` to a file in `directory` (as a queue body file) and
/// makes the message for it.
func fileMessage(_ content: String, in directory: String, name: String, recipients: [String] = ["rcpt@x.test"],
                 eightBit: Bool = false) throws -> OutboundMessage {
    let path = "\(directory)/\(name).body"
    try Data(content.utf8).write(to: URL(fileURLWithPath: path))
    return OutboundMessage(id: name, sender: "sender@y.test", recipients: recipients, size: content.utf8.count,
                           eightBitMIME: eightBit, body: .file(path: path))
}

/// What smtp-sink's dump should show for content sent over SMTP: LF line
/// ends, and a line end added when the content had none at the end.
func asDumped(_ content: String) -> String {
    var text = content.replacingOccurrences(of: "\r\n", with: "\n")
    if !text.hasSuffix("\n") { text += "\n" }
    return text
}

let e2eOptions = ClientOptions(heloName: "client.test", tlsPolicy: .opportunistic,
                               timeouts: ClientTimeouts(all: .seconds(10)), bodyChunkSize: 4096)

@Suite("End to end: Postfix smtp-sink on loopback", .serialized)
struct PostfixSinkTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func threeMessagesOverOnePipelinedConnection() async throws {
        let sink = try await PostfixSink()
        defer { sink.stop() }
        let work = try LoopbackPeers.temporaryDirectory("bodies")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let contents = [
            "Message-ID: <1@test>\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n",
            "Message-ID: <2@test>\r\nSubject: no final line end\r\n\r\nlast line" ,
            "Message-ID: <3@test>\r\nSubject: 8bit\r\n\r\ncaf\u{E9} \u{2603}\r\n" + String(repeating: ".x\r\n", count: 3000),
        ]
        let messages = try contents.enumerated().map { index, content in
            try fileMessage(content, in: work, name: "m\(index)", eightBit: index == 2)
        }
        let connection = try await SMTPConnection.open(host: "127.0.0.1", port: sink.port, options: e2eOptions, group: group)
        #expect(connection.session.capabilities.pipelining)
        #expect(connection.session.esmtp)
        for message in messages {
            let outcome = await connection.send(message)
            #expect(outcome.allDelivered, "\(outcome)")
        }
        #expect(connection.isOpen)
        await connection.close()
        #expect(!connection.isOpen)

        let dumps = try await sink.dumps(expecting: 3)
        #expect(dumps.count == 3)
        for (index, content) in contents.enumerated() {
            let dump = try #require(dumps.first { $0.message.hasPrefix("Message-ID: <\(index + 1)@test>") })
            #expect(dump.message == asDumped(content))
            #expect(dump.headers.contains("X-Client-Proto: ESMTP"))
            #expect(dump.headers.contains("X-Rcpt-Args: <rcpt@x.test>"))
            #expect(dump.headers.contains(index == 2 ? "X-Mail-Args: <sender@y.test> BODY=8BITMIME" : "X-Mail-Args: <sender@y.test>"))
        }
    }

    @Test func largeBodyStreamedFromTheQueueFile() async throws {
        let sink = try await PostfixSink()
        defer { sink.stop() }
        let work = try LoopbackPeers.temporaryDirectory("bodies")
        defer { try? FileManager.default.removeItem(atPath: work) }
        var content = "Message-ID: <big@test>\r\nSubject: big\r\n\r\n"
        for line in 0..<120_000 {
            content += (line % 5 == 0 ? "." : "") + "line \(line) " + String(repeating: "abcdefgh", count: line % 9) + "\r\n"
        }
        let message = try fileMessage(content, in: work, name: "big")
        var options = e2eOptions
        options.bodyChunkSize = 65_536
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message], options: options, on: group)
        #expect(outcomes.first?.allDelivered == true, "\(outcomes)")
        let dump = try #require(try await sink.dumps(expecting: 1).first)
        #expect(dump.message.utf8.count == asDumped(content).utf8.count)
        #expect(dump.message == asDumped(content))
    }

    @Test func heloFallbackWithoutESMTP() async throws {
        let sink = try await PostfixSink(["-e"])
        defer { sink.stop() }
        let content = "Message-ID: <helo@test>\r\n\r\nplain SMTP\r\n"
        let message = OutboundMessage(id: "h", sender: "", recipients: ["a@x.test", "b@x.test"], size: content.utf8.count,
                                      body: .bytes(ByteBuffer(string: content)))
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message], options: e2eOptions, on: group)
        #expect(outcomes.first?.allDelivered == true, "\(outcomes)")
        let dump = try #require(try await sink.dumps(expecting: 1).first)
        #expect(dump.headers.contains("X-Client-Proto: SMTP"))
        #expect(dump.headers.contains("X-Mail-Args: <>"))
        #expect(dump.message == asDumped(content))
    }

    @Test func closingReplyToRcptDefers() async throws {
        let sink = try await PostfixSink(["-Q", "RCPT"])
        defer { sink.stop() }
        let connection = try await SMTPConnection.open(host: "127.0.0.1", port: sink.port, options: e2eOptions, group: group)
        let outcome = await connection.send(message(["a@x.test", "b@x.test"]))
        #expect(outcome.allDeferred, "\(outcome)")
        #expect(outcome.recipients.first?.code == 421)
        try await Task.sleep(for: .milliseconds(100))
        #expect(!connection.isOpen)
        let after = await connection.send(message(["c@x.test"]))
        #expect(after.recipients.first?.isDeferred == true)
        await connection.close()
    }

    @Test func hardRefusalAtEndOfDataWithoutPipelining() async throws {
        let sink = try await PostfixSink(["-f", "."])
        defer { sink.stop() }
        let connection = try await SMTPConnection.open(host: "127.0.0.1", port: sink.port, options: e2eOptions, group: group)
        #expect(!connection.session.capabilities.pipelining)
        let first = await connection.send(message(["a@x.test"]))
        #expect(first.recipients.first?.isFailed == true, "\(first)")
        #expect(first.recipients.first.map { "\($0)" }?.contains("end of DATA") == true)
        let second = await connection.send(message(["b@x.test"]))
        #expect(second.recipients.first?.isFailed == true, "the connection is reused after a refusal")
        await connection.close()
    }

    @Test func softRefusalOfRecipients() async throws {
        let sink = try await PostfixSink(["-r", "RCPT"])
        defer { sink.stop() }
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message()], options: e2eOptions, on: group)
        #expect(outcomes.first?.recipients.allSatisfy { $0.isDeferred && $0.code == 450 } == true, "\(outcomes)")
    }
}
