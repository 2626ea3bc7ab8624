import Foundation
import Logging
import MailQueue
import NIOCore
import NIOPosix
import SMTPCore
import Testing
@testable import Delivery

@Suite("End to end: aiosmtpd sink (STARTTLS, AUTH) on loopback", .serialized)
struct PythonSinkTests {
    let group = MultiThreadedEventLoopGroup.singleton

    func options(_ tls: TLSPolicy = .opportunistic, credentials: ClientCredentials? = nil, plaintextAuth: Bool = false,
                 verify: CertificateVerification = .none, trustRoots: String? = nil) -> ClientOptions {
        ClientOptions(heloName: "client.test", tlsPolicy: tls, verify: verify, trustRootsFile: trustRoots,
                      tlsServerName: trustRoots == nil ? nil : "localhost", credentials: credentials,
                      allowPlaintextAuth: plaintextAuth, timeouts: ClientTimeouts(all: .seconds(10)))
    }

    func tlsSink(_ extra: [String] = []) throws -> (PythonSink, cert: String) {
        let work = try LoopbackPeers.temporaryDirectory("cert")
        let (cert, key) = try LoopbackPeers.makeCertificate(in: work)
        let sink = try PythonSink(["--tls-cert", cert, "--tls-key", key] + extra)
        sink.alsoRemove = [work]
        return (sink, cert)
    }

    @Test func startTLSAndAuthPlain() async throws {
        let (sink, _) = try tlsSink(["--require-tls", "--auth", "alice:s3cret", "--auth-required"])
        defer { sink.stop() }
        let content = "Subject: tls\r\n\r\n.secret line\r\n"
        let message = OutboundMessage(id: "t", sender: "s@y.test", recipients: ["a@x.test"], size: content.utf8.count,
                                      body: .bytes(ByteBuffer(string: content)))
        let credentials = ClientCredentials(user: "alice", password: "s3cret")
        let connection = try await SMTPConnection.open(host: "127.0.0.1", port: sink.port,
                                                       options: options(.required, credentials: credentials), group: group)
        #expect(connection.session.tls && connection.session.authenticated)
        let outcome = await connection.send(message)
        await connection.close()
        #expect(outcome.allDelivered, "\(outcome)")
        let recorded = try sink.messages()
        #expect(recorded.count == 1)
        #expect(recorded.first?.record.tls == true)
        #expect(recorded.first?.record.auth_user == "alice")
        #expect(recorded.first?.content == Data(content.utf8))
    }

    @Test func authLoginInPlaintextWhenAllowed() async throws {
        let sink = try PythonSink(["--auth", "bob:pw", "--auth-plaintext", "--no-plain", "--auth-required"])
        defer { sink.stop() }
        let credentials = ClientCredentials(user: "bob", password: "pw")
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message(["a@x.test"])],
                                                options: options(credentials: credentials, plaintextAuth: true), on: group)
        #expect(outcomes.first?.recipients.first?.isDelivered == true, "\(outcomes)")
        #expect(try sink.messages().first?.record.auth_user == "bob")
    }

    @Test func wrongPasswordDefers() async throws {
        let (sink, _) = try tlsSink(["--auth", "alice:s3cret", "--auth-required"])
        defer { sink.stop() }
        let credentials = ClientCredentials(user: "alice", password: "nope")
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message()],
                                                options: options(credentials: credentials), on: group)
        #expect(outcomes.first?.recipients.allSatisfy { $0.isDeferred && $0.code == 535 } == true, "\(outcomes)")
        #expect(try sink.messages().isEmpty)
    }

    @Test func threeMessagesReuseOneConnection() async throws {
        let sink = try PythonSink(["--pipelining", "--refuse", "bob@x.test"])
        defer { sink.stop() }
        let connection = try await SMTPConnection.open(host: "127.0.0.1", port: sink.port, options: options(), group: group)
        #expect(connection.session.capabilities.pipelining)
        let contents = ["Subject: one\r\n\r\n.\r\n..\r\n", "Subject: two\r\n\r\nno end", "Subject: three\r\n\r\n\r\n"]
        var outcomes: [MessageOutcome] = []
        for (index, content) in contents.enumerated() {
            let recipients = index == 0 ? ["alice@x.test", "bob@x.test"] : ["carol@x.test"]
            outcomes.append(await connection.send(OutboundMessage(
                id: "\(index)", sender: "s@y.test", recipients: recipients, size: content.utf8.count,
                body: .bytes(ByteBuffer(string: content)))))
        }
        await connection.close()
        #expect(outcomes[0].recipients[0].isDelivered)
        #expect(outcomes[0].recipients[1] == .failed(.reply(reply("550 5.1.1 No such user here"), stage: .rcpt)))
        #expect(outcomes[1].recipients[0].isDelivered && outcomes[2].recipients[0].isDelivered)
        let recorded = try sink.messages()
        #expect(recorded.count == 3)
        #expect(Set(recorded.map(\.record.peer_port)).count == 1, "one connection for all three")
        #expect(recorded.map(\.record.rcpt_tos) == [["alice@x.test"], ["carol@x.test"], ["carol@x.test"]])
        #expect(recorded.map(\.content) == [Data(contents[0].utf8), Data("Subject: two\r\n\r\nno end\r\n".utf8),
                                            Data(contents[2].utf8)])
    }

    @Test func temporaryFailureThenSuccess() async throws {
        let sink = try PythonSink(["--tempfail-first", "1"])
        defer { sink.stop() }
        let first = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message()], options: options(), on: group)
        #expect(first.first?.recipients.allSatisfy { $0.isDeferred && $0.code == 451 } == true, "\(first)")
        let second = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message()], options: options(), on: group)
        #expect(second.first?.allDelivered == true, "\(second)")
        #expect(try sink.messages().count == 1)
    }

    @Test func requiredTLSNotOffered() async throws {
        let sink = try PythonSink()
        defer { sink.stop() }
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message()],
                                                options: options(.required), on: group)
        #expect(outcomes.first?.recipients.allSatisfy { $0.isDeferred && $0.statusCode == "4.7.4" } == true, "\(outcomes)")
        #expect(try sink.messages().isEmpty)
    }

    @Test func certificateVerification() async throws {
        let (sink, cert) = try tlsSink()
        defer { sink.stop() }
        let verified = try await SMTPConnection.open(host: "127.0.0.1", port: sink.port,
                                                     options: options(.required, verify: .full, trustRoots: cert), group: group)
        #expect(verified.session.tls)
        #expect(await verified.send(message(["a@x.test"])).recipients.first?.isDelivered == true)
        await verified.close()
        // Unknown issuer: no delivery, and no silent fallback to plaintext when verifying.
        var strict = options(.opportunistic, verify: .full)
        strict.tlsServerName = "localhost"
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message()], options: strict, on: group)
        #expect(outcomes.first?.recipients.allSatisfy { $0.isDeferred && $0.statusCode == "4.7.5" } == true, "\(outcomes)")
        #expect(try sink.messages().count == 1)
    }

    /// The envelope's added header fields go ahead of the untouched body file.
    @Test func addedHeaderFieldsPrecedeTheBodyFile() async throws {
        let sink = try PythonSink([])
        defer { sink.stop() }
        let work = try LoopbackPeers.temporaryDirectory("prefix")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let body = "Subject: scanned\r\n\r\n.dot\r\nbody\r\n"
        try Data(body.utf8).write(to: URL(fileURLWithPath: work + "/m.eml"))
        var envelope = Envelope(id: QueueID(value: 1), sender: "s@y.test", recipients: [.init(address: "a@x.test")],
                                size: body.utf8.count, clientAddress: "127.0.0.1", clientHelo: nil, receivedProtocol: "ESMTP")
        envelope.addedHeaders = ["X-Spam-Flag: NO\r\n", "X-Note: two\r\n\tlines\r\n"]
        let message = OutboundMessage(envelope: envelope, body: QueuedBody(path: work + "/m.eml"))
        #expect(message.size == body.utf8.count + envelope.addedHeaders.joined().utf8.count)
        let connection = try await SMTPConnection.open(host: "127.0.0.1", port: sink.port, options: options(), group: group)
        let outcome = await connection.send(message)
        await connection.close()
        #expect(outcome.allDelivered, "\(outcome)")
        #expect(try sink.messages().first?.content == Data(("X-Spam-Flag: NO\r\nX-Note: two\r\n\tlines\r\n" + body).utf8))
    }

    @Test func sizeAnnouncedAndHonoured() async throws {
        let sink = try PythonSink(["--size", "200"])
        defer { sink.stop() }
        let connection = try await SMTPConnection.open(host: "127.0.0.1", port: sink.port, options: options(), group: group)
        #expect(connection.session.capabilities.maxMessageSize == 200)
        let big = await connection.send(message(size: 500))
        #expect(big.recipients.allSatisfy { $0.isFailed && $0.statusCode == "5.3.4" })
        let small = await connection.send(message(["a@x.test"], size: 20))
        #expect(small.recipients.first?.isDelivered == true, "\(small)")
        await connection.close()
        let recorded = try sink.messages()
        #expect(recorded.count == 1)
        #expect(recorded.first?.record.mail_options == ["SIZE=20"])
    }

    @Test func smtpUTF8() async throws {
        let with = try PythonSink(["--smtputf8"])
        defer { with.stop() }
        let international = message(["j\u{F6}rg@x.test"], utf8: true)
        let sent = await SMTPClient.deliver(to: "127.0.0.1", port: with.port, messages: [international], options: options(), on: group)
        #expect(sent.first?.recipients.first?.isDelivered == true, "\(sent)")
        #expect(try with.messages().first?.record.mail_options.contains("SMTPUTF8") == true)
        #expect(try with.messages().first?.record.rcpt_tos == ["j\u{F6}rg@x.test"])

        let without = try PythonSink()
        defer { without.stop() }
        let refused = await SMTPClient.deliver(to: "127.0.0.1", port: without.port, messages: [international], options: options(), on: group)
        #expect(refused.first?.recipients.first?.statusCode == "5.6.7")
        #expect(refused.first?.recipients.first?.isFailed == true)
    }

    @Test func connectionRefusedDefers() async throws {
        let port = try await LoopbackPeers.freePort()
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: port, messages: [message()], options: options(), on: group)
        let first = try #require(outcomes.first?.recipients.first)
        #expect(first.isDeferred && first.statusCode == "4.4.1", "\(first)")
        #expect("\(first)".contains("while connecting"))
    }

    @Test func silentServerTimesOut() async throws {
        // Accepts the connection and never greets.
        let server = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        var quick = options()
        quick.timeouts.greeting = .milliseconds(300)
        let start = ContinuousClock.now
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: server.localAddress!.port!, messages: [message()],
                                                options: quick, on: group)
        #expect(ContinuousClock.now - start < .seconds(5))
        let first = try #require(outcomes.first?.recipients.first)
        #expect(first.isDeferred && "\(first)".contains("timed out") && "\(first)".contains("greeting"), "\(first)")
    }

    @Test func opportunisticTLSFallsBackToPlaintextAfterAFailedHandshake() async throws {
        let sink = try PythonSink(["--broken-tls"])
        defer { sink.stop() }
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message(["a@x.test"])],
                                                options: options(.opportunistic), on: group)
        #expect(outcomes.first?.allDelivered == true, "\(outcomes)")
        #expect(try sink.messages().first?.record.tls == false)
        let required = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message(["a@x.test"])],
                                                options: options(.required), on: group)
        #expect(required.first?.recipients.first?.statusCode == "4.7.5", "\(required)")
        #expect(try sink.messages().count == 1)
    }

    @Test func recipientsBeyondTheLimitGoInFurtherTransactions() async throws {
        let sink = try PythonSink(["--pipelining"])
        defer { sink.stop() }
        var limited = options()
        limited.maxRecipientsPerTransaction = 2
        let recipients = (0..<5).map { "r\($0)@x.test" }
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message(recipients)],
                                                options: limited, on: group)
        #expect(outcomes.first?.allDelivered == true, "\(outcomes)")
        let recorded = try sink.messages()
        #expect(recorded.map(\.record.rcpt_tos) == [Array(recipients[0..<2]), Array(recipients[2..<4]), [recipients[4]]])
        #expect(Set(recorded.map(\.record.peer_port)).count == 1)
    }

    @Test func tooManyRecipientsAreRetriedAtOnce() async throws {
        // RFC 5321 §4.5.3.1.10: 452 for recipients past the server's limit.
        let sink = try PythonSink(["--pipelining", "--max-rcpt", "2", "--refuse", "bad@x.test"])
        defer { sink.stop() }
        let recipients = ["r0@x.test", "bad@x.test", "r1@x.test", "r2@x.test", "r3@x.test"]
        let outcomes = await SMTPClient.deliver(to: "127.0.0.1", port: sink.port, messages: [message(recipients)],
                                                options: options(), on: group)
        let outcome = try #require(outcomes.first)
        #expect(outcome.recipients.map(\.isDelivered) == [true, false, true, true, true], "\(outcome)")
        #expect(outcome.recipients[1].isFailed)
        #expect(try sink.messages().map(\.record.rcpt_tos) == [["r0@x.test", "r1@x.test"], ["r2@x.test", "r3@x.test"]])
    }
}
