import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore

/// One open, set-up SMTP session to a next hop, for one message after
/// another (the scheduler pools these per next hop). Messages sent
/// concurrently on one connection are queued and go one at a time.
public final class SMTPConnection: Sendable {
    public let host: String
    public let port: Int
    /// What the server offered and what was negotiated (TLS, AUTH).
    public let session: SessionInfo
    let channel: Channel
    let options: ClientOptions
    let logger: Logger

    private init(host: String, port: Int, session: SessionInfo, channel: Channel, options: ClientOptions, logger: Logger) {
        self.host = host
        self.port = port
        self.session = session
        self.channel = channel
        self.options = options
        self.logger = logger
    }

    /// Connects, reads the greeting, and runs EHLO/HELO, STARTTLS and AUTH as
    /// `options` ask. Throws with the reason every recipient should be
    /// deferred with when the session cannot be set up. With opportunistic
    /// TLS and no certificate checks, a failed handshake is retried once
    /// without TLS, as Postfix does.
    public static func open(host: String, port: Int = 25, options: ClientOptions, group: EventLoopGroup,
                            logger: Logger = Logger(label: "postern.delivery")) async throws(SMTPConnectionError) -> SMTPConnection {
        do {
            return try await openOnce(host: host, port: port, options: options, group: group, logger: logger)
        } catch where error.reason.stage == .tlsHandshake && options.tlsPolicy == .opportunistic && options.verify == .none {
            logger.notice("TLS failed, trying again without TLS", metadata: ["peer": "\(host):\(port)", "reason": "\(error.reason)"])
            var plain = options
            plain.tlsPolicy = .none
            return try await openOnce(host: host, port: port, options: plain, group: group, logger: logger)
        }
    }

    private static func openOnce(host: String, port: Int, options: ClientOptions, group: EventLoopGroup,
                                 logger: Logger) async throws(SMTPConnectionError) -> SMTPConnection {
        var logger = logger
        logger[metadataKey: "peer"] = "\(host):\(port)"
        let tlsContext = try makeTLSContext(options)
        let serverName = options.tlsServerName ?? (isIPAddress(host) ? nil : host)
        let eventLoop = group.next()
        let ready = eventLoop.makePromise(of: SessionInfo.self)
        let bodyReader = BodyReader()
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(options.timeouts.connect)
            .channelInitializer { [logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = SMTPClientHandler(options: options, tlsContext: tlsContext, tlsServerName: serverName,
                                                    bodyReader: bodyReader, readyPromise: ready, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel: Channel
        do {
            channel = try await bootstrap.connect(host: host.trimmingBrackets, port: port).get()
        } catch {
            let reason = DeliveryReason.local(EnhancedStatusCode(4, 4, 1),
                                              "connect to \(host):\(port) failed: \(describe(error))", stage: .connect)
            ready.fail(SMTPConnectionError(reason: reason))
            throw SMTPConnectionError(reason: reason)
        }
        do {
            let session = try await ready.futureResult.get()
            return SMTPConnection(host: host, port: port, session: session, channel: channel, options: options, logger: logger)
        } catch {
            channel.close(promise: nil)
            if let error = error as? SMTPConnectionError { throw error }
            throw SMTPConnectionError(reason: .local(EnhancedStatusCode(4, 4, 2), "\(error)", stage: .greeting))
        }
    }

    /// False once the server or we closed the connection: do not reuse it.
    public var isOpen: Bool { channel.isActive }

    /// Delivers one message. Recipients beyond `maxRecipientsPerTransaction`
    /// go in further transactions; recipients refused with 452 while others
    /// in the same transaction were taken are tried again at once in a new
    /// transaction (RFC 5321 §4.5.3.1.10), as Postfix does.
    public func send(_ message: OutboundMessage) async -> MessageOutcome {
        var outcomes = [RecipientOutcome?](repeating: nil, count: message.recipients.count)
        var notes: [String] = []
        var reportsDSN = false
        var todo = Array(message.recipients.indices)
        while !todo.isEmpty {
            let batch = Array(todo.prefix(options.maxRecipientsPerTransaction))
            todo.removeFirst(batch.count)
            var part = message
            part.recipients = batch.map { message.recipients[$0] }
            part.recipientParameters = batch.map { message.parameters(at: $0) }
            let result = await sendTransaction(part)
            notes.append(contentsOf: result.notes.filter { !notes.contains($0) })
            reportsDSN = reportsDSN || result.nextHopReportsDSN // one connection: one EHLO
            let progress = result.recipients.contains { $0.isDelivered }
            var retry: [Int] = []
            for (position, index) in batch.enumerated() {
                let outcome = result.recipients[position]
                outcomes[index] = outcome
                if progress, isOpen, case .deferred(.reply(let reply, .rcpt)) = outcome, reply.code == 452 {
                    retry.append(index)
                }
            }
            todo.insert(contentsOf: retry, at: 0)
        }
        return MessageOutcome(recipients: outcomes.map { $0! }, notes: notes, nextHopReportsDSN: reportsDSN)
    }

    private func sendTransaction(_ message: OutboundMessage) async -> MessageOutcome {
        let promise = channel.eventLoop.makePromise(of: MessageOutcome.self)
        let count = message.recipients.count
        channel.writeAndFlush(ClientRequest.send(message, promise)).whenFailure { _ in
            promise.succeed(.deferredAll(count, .local(EnhancedStatusCode(4, 4, 2), "connection is closed", stage: .mail)))
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            return .deferredAll(count, .local(EnhancedStatusCode(4, 4, 2), "\(error)", stage: .mail))
        }
    }

    /// Sends QUIT once the messages in progress are done, and closes.
    public func close() async {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(ClientRequest.quit(promise)).whenFailure { _ in promise.succeed(()) }
        try? await promise.futureResult.get()
        try? await channel.closeFuture.get()
    }

    static func makeTLSContext(_ options: ClientOptions) throws(SMTPConnectionError) -> NIOSSLContext? {
        guard options.tlsPolicy != .none else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = options.verify == .full ? .fullVerification : .none
        // DANE: peer verification on, but done by the TLSA callback (SMTPClientHandler.startTLS);
        // names and roots do not come into it (RFC 7672 §3.1).
        if options.dane != nil { configuration.certificateVerification = .noHostnameVerification }
        if let file = options.trustRootsFile { configuration.trustRoots = .file(file) }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw SMTPConnectionError(reason: .local(EnhancedStatusCode(4, 7, 5), "TLS configuration: \(error)",
                                                     stage: .tlsHandshake))
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host.trimmingBrackets, port: 0)) != nil
    }

    static func describe(_ error: Error) -> String {
        if let error = error as? NIOConnectionError {
            let failures = error.connectionErrors.map { "\($0.target): \($0.error)" }
            if !failures.isEmpty { return failures.joined(separator: "; ") }
            return "cannot resolve host (\(error.dnsAError.map { "\($0)" } ?? "no addresses"))"
        }
        if case ChannelError.connectTimeout = error { return "connection timed out" }
        return "\(error)"
    }
}

/// One-shot delivery: one connection, the messages in turn, QUIT.
public enum SMTPClient {
    /// Outcomes in the order of `messages`. A session that cannot be set up
    /// (refused connection, timeout, TLS required but missing, AUTH refused)
    /// defers every recipient with the reason.
    public static func deliver(to host: String, port: Int, messages: [OutboundMessage], options: ClientOptions,
                               on group: EventLoopGroup,
                               logger: Logger = Logger(label: "postern.delivery")) async -> [MessageOutcome] {
        let connection: SMTPConnection
        do {
            connection = try await SMTPConnection.open(host: host, port: port, options: options, group: group, logger: logger)
        } catch {
            return messages.map { .deferredAll($0.recipients.count, error.reason) }
        }
        var outcomes: [MessageOutcome] = []
        for message in messages { outcomes.append(await connection.send(message)) }
        await connection.close()
        return outcomes
    }
}

extension String {
    /// "[::1]" → "::1": address literals as routes write them.
    var trimmingBrackets: String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }
}
