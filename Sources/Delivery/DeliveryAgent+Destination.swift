import DNSModel
import Foundation
import MailMessage
import MailQueue
import NIOCore
import SMTPCore

/// Who gave a recipient its outcome: an SMTP next hop, or a Maildir here.
enum Relay: Sendable, Hashable, CustomStringConvertible {
    /// An SMTP server; `reportsDSN`: it offered DSN and was handed the
    /// DSN parameters, so reporting on delivery is its job from now on.
    case host(String, reportsDSN: Bool)
    /// The recipient's Maildir directory.
    case maildir(String)

    /// For logs and the attempt history: the host, or "maildir:/path".
    var description: String {
        switch self {
        case .host(let host, _): return host
        case .maildir(let path): return MaildirRoute.scheme + path
        }
    }

    /// A DSN's Remote-MTA (RFC 3464 §2.3.5): only an SMTP server is one.
    var remoteMTA: String? {
        if case .host(let host, _) = self { return host }
        return nil
    }

    /// What a success DSN says for a recipient this relay took, when the
    /// sender asked for one (RFC 3461 §6.2.2, RFC 3464 §2.3.3): "delivered"
    /// into a Maildir here, "relayed" to a server that does not report on
    /// delivery; nil when the server reports itself.
    var successAction: RecipientReport.Action? {
        switch self {
        case .host(_, let reportsDSN): return reportsDSN ? nil : .relayed
        case .maildir: return .delivered
        }
    }
}

/// What became of one domain's recipients in one delivery attempt.
struct DomainAttempt: Sendable {
    /// Recipient index in the envelope, its outcome, and the relay that gave it.
    typealias Result = (Int, RecipientOutcome, Relay?)

    var results: [Result]
    /// How the session that took the transaction was protected (SMTP hops only).
    var tls: DeliveryTLS?
    /// Delivery stopped before anything was tried; `results` defer for that reason.
    var stopped = false

    static func stopped(_ indices: [Int]) -> DomainAttempt {
        let reason = DeliveryReason.local(EnhancedStatusCode(4, 3, 2), "delivery stopped", stage: .connect)
        return DomainAttempt(results: indices.map { ($0, .deferred(reason), nil) }, stopped: true)
    }
}

extension DeliveryAgent {
    /// Delivers the recipients at `indices` (all in `domain`): route, then
    /// each next hop in turn until one takes the transaction.
    /// `body`: the message as committed, from `bodyOffset` on, when it is
    /// still in memory; nil reads the queue file.
    func deliver(_ envelope: Envelope, indices: [Int], domain: String, body inMemory: HeldBody? = nil) async -> DomainAttempt {
        func all(_ outcome: RecipientOutcome, _ remote: Relay? = nil) -> DomainAttempt {
            DomainAttempt(results: indices.map { ($0, outcome, remote) })
        }
        switch await router.resolve(domain: domain) {
        case .nullMX(let domain):
            return all(.failed(.local(EnhancedStatusCode(5, 1, 10), "domain \(domain) accepts no mail (null MX, RFC 7505)",
                                      stage: .connect)))
        case .permanentFailure(let reason):
            return all(.failed(.local(EnhancedStatusCode(5, 1, 2), reason, stage: .connect)))
        case .temporaryFailure(let reason):
            return all(.deferred(.local(EnhancedStatusCode(4, 4, 3), reason, stage: .connect)))
        case .maildir(let route):
            return await deliverLocally(envelope, indices: indices, domain: domain, route: route)
        case .hops(let hops):
            let body = queue.body(of: envelope)
            var message = OutboundMessage(envelope: envelope, body: body, indices: indices)
            if let inMemory {
                message.body = .bytes(inMemory.bytes)
                message.bodyIsPlain = inMemory.isPlain
            }
            // BODY=8BITMIME is often declared for plain ASCII: only real 8-bit
            // octets need an 8BITMIME next hop.
            if message.eightBitMIME {
                message.eightBitMIME = inMemory.map { $0.bytes.readableBytesView.contains { $0 >= 0x80 } } ?? Self.hasEightBitOctets(body)
            }
            let started = DispatchTime.now().uptimeNanoseconds
            let options = clientOptions(domain: domain)
            let requirement = await tlsRequirement(domain: domain, configured: options.tlsPolicy)
            let sent = await send(message, hops: hops, options: options, requirement: requirement, domain: domain,
                                  daneDomain: daneDomain(domain))
            DeliveryMetrics.duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
            switch sent {
            case .sent(let outcome, let relay, let tls):
                let relay = Relay.host(relay, reportsDSN: outcome.nextHopReportsDSN)
                return DomainAttempt(results: zip(indices, outcome.recipients).map { ($0, $1, relay) }, tls: tls)
            case .deferred(let reason):
                return all(.deferred(reason))
            case .stopped:
                return .stopped(indices)
            }
        }
    }

    private func clientOptions(domain: String) -> ClientOptions {
        let router = self.router
        let isRelay = router.routes[domain.lowercased()] == nil && router.relayhost != nil
        var options = ClientOptions(heloName: configuration.hostname, tlsPolicy: isRelay ? configuration.relayTLS : configuration.tlsPolicy,
                                    timeouts: configuration.timeouts)
        if isRelay {
            options.credentials = configuration.relayCredentials
            // relay_tls = "none" with credentials: the operator chose plaintext AUTH.
            options.allowPlaintextAuth = configuration.relayTLS == .none
        }
        return options
    }

    enum HopsResult {
        case sent(MessageOutcome, relay: String, tls: DeliveryTLS)
        /// No next hop took the transaction: the last reason.
        case deferred(DeliveryReason)
        /// Delivery is stopping and nothing was tried.
        case stopped
    }

    /// Each address of each next hop in turn (RFC 5321 §5.1) until a session
    /// is set up; a dead one is passed over at once with its suspension reason.
    /// `requirement` (nil: the configured policy) may rule MX hosts out
    /// and shapes each session's TLS.
    func send(_ message: OutboundMessage, hops: [Router.NextHop], options: ClientOptions,
              requirement: OutboundTLSRequirement? = nil, domain: String = "", daneDomain: String? = nil) async -> HopsResult {
        let requirement = requirement ?? .configured(options.tlsPolicy)
        let admitted = admittedHops(hops, requirement: requirement, domain: domain, id: message.id)
        if admitted.isEmpty {
            return .deferred(.local(EnhancedStatusCode(4, 7, 5), requirement.noAdmittedHost(domain: domain, hosts: hops.map(\.host)),
                                    stage: .connect))
        }
        var lastReason: DeliveryReason?
        for hop in admitted {
            // DANE (validated TLSA records) outranks MTA-STS and the configured policy.
            let hopBase: ClientOptions, hopRequirement: OutboundTLSRequirement
            let base = requirement.options(options, host: hop.host, trustRootsFile: configuration.tlsTrustRootsFile)
            switch await applyDANE(domain: daneDomain, hop: hop, options: base) {
            case .use(let withDANE, let daneApplies):
                (hopBase, hopRequirement) = (withDANE, daneApplies ? .dane : requirement)
            case .skip(let reason):
                lastReason = reason
                continue
            }
            for address in hop.addresses {
                let key = "\(address):\(hop.port)"
                switch await limiter.acquire(key) {
                case .stopping:
                    return lastReason.map { .deferred($0) } ?? .stopped
                case .suspended(let reason):
                    lastReason = reason
                    continue
                case .granted(let probe):
                    if probe { logger.info("probing dead destination", metadata: ["destination": "\(key)"]) }
                }
                guard await sessions.acquire() else {
                    await limiter.release(key, verdict: nil)
                    return lastReason.map { .deferred($0) } ?? .stopped
                }
                var hopOptions = hopBase
                hopOptions.tlsServerName = IPAddress(hop.host) == nil ? hop.host : nil
                let attempt = await attempt(message, key: key, address: address, port: hop.port, options: hopOptions,
                                            policy: HopPolicy(requirement: hopRequirement, host: hop.host, domain: domain))
                await sessions.release()
                switch attempt {
                case .sent(let outcome, let tls):
                    await settle(key, DestinationHealth.Verdict(outcome))
                    return .sent(outcome, relay: hop.host, tls: tls)
                case .noSession(let reason):
                    // Refused, timed out or a 4xx/5xx greeting: next host (RFC 5321 §5.1).
                    await settle(key, DestinationHealth.Verdict(setupFailure: reason))
                    lastReason = reason
                }
            }
        }
        return .deferred(lastReason ?? .local(EnhancedStatusCode(4, 4, 1), "no next hop answered", stage: .connect))
    }

    enum HopAttempt {
        case sent(MessageOutcome, DeliveryTLS)
        case noSession(DeliveryReason)
    }

    /// One message to one next hop: on a pooled connection first; if that
    /// died under us, once more on a fresh one.
    private func attempt(_ message: OutboundMessage, key: String, address: String, port: Int,
                         options: ClientOptions, policy: HopPolicy) async -> HopAttempt {
        let poolKey = policy.requirement.poolKey(key, host: policy.host)
        if let pooled = await pool.take(poolKey) {
            let outcome = await pooled.send(message)
            if pooled.isOpen || outcome.recipients.contains(where: { !$0.isDeferred }) {
                DeliveryMetrics.connectionsReused.increment()
                await pool.put(poolKey, pooled)
                return .sent(outcome, policy.outcome(of: pooled))
            }
            await pooled.close()
        }
        let connection: SMTPConnection
        switch await open(address: address, port: port, options: options, policy: policy, id: message.id) {
        case .success(let opened): connection = opened
        case .failure(let error): return .noSession(error.reason)
        }
        DeliveryMetrics.connectionsOpened.increment()
        let outcome = await connection.send(message)
        await pool.put(poolKey, connection)
        return .sent(outcome, policy.outcome(of: connection))
    }

    /// Gives the destination slot back with what the attempt showed, and logs
    /// a destination marked dead or revived.
    private func settle(_ key: String, _ verdict: DestinationHealth.Verdict) async {
        switch await limiter.release(key, verdict: verdict) {
        case .markedDead(let reason):
            logger.notice("destination dead", metadata: [
                "destination": "\(key)", "reason": "\(reason)",
                "dead_time": "\(Int(configuration.deadDestinations.deadTime))s",
            ])
        case .revived(let wasDeadFor):
            logger.notice("destination revived", metadata: [
                "destination": "\(key)", "reason": "it answered again", "was": "\(wasDeadFor)",
            ])
        case nil:
            break
        }
    }

    /// Unreadable counts as 8-bit: the safe side.
    static func hasEightBitOctets(_ body: QueuedBody) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: body.path) else { return true }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(body.offset))) != nil else { return true }
        var left = body.limit
        while left > 0, let chunk = try? handle.read(upToCount: min(65536, left)), !chunk.isEmpty {
            if chunk.contains(where: { $0 >= 0x80 }) { return true }
            left -= chunk.count
        }
        return false
    }
}
