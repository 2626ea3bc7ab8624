import DNSModel
import Foundation
import Logging
import MailMessage
import MailQueue
import NIOConcurrencyHelpers
import NIOCore
import SMTPCore

/// Takes due messages from the scheduler and delivers them with a bounded
/// pool of workers: route each recipient's domain, talk SMTP to the next
/// hop, record per-recipient outcomes in the envelope, bounce what failed,
/// and schedule a retry for what was deferred.
public final class DeliveryAgent: Sendable {
    let queue: MailQueue
    public let scheduler: DeliveryScheduler
    let router: Router
    let configuration: DeliveryConfiguration
    let group: EventLoopGroup
    let logger: Logger
    let limiter: DestinationLimiter
    let pool: ConnectionPool
    let wakeup = Wakeup()
    private let state = NIOLockedValueBox(RunState())

    private struct RunState {
        var stopping = false
        var inFlight = 0
    }

    public init(queue: MailQueue, router: Router, configuration: DeliveryConfiguration, group: EventLoopGroup,
                logger: Logger) {
        self.queue = queue
        self.router = router
        self.configuration = configuration
        self.group = group
        self.logger = logger
        scheduler = DeliveryScheduler()
        limiter = DestinationLimiter(limit: configuration.perDestinationLimit)
        pool = ConnectionPool(maxIdlePerKey: configuration.perDestinationLimit, idleTimeout: configuration.connectionIdleSeconds)
    }

    /// Rebuilds the schedule from the queue (at start).
    public func loadQueue() throws {
        let now = Date()
        for envelope in try queue.envelopes() where envelope.state == .ready || envelope.state == .deferred {
            scheduler.schedule(envelope.id, at: min(envelope.nextAttempt ?? now, now.addingTimeInterval(configuration.retry.maximumDelay)))
        }
    }

    /// A new message was committed: try it at once.
    public func enqueue(_ id: QueueID) {
        scheduler.schedule(id, at: Date())
        wakeup.signal()
    }

    /// Runs until `stop`; deliveries in flight finish first.
    public func run() async {
        await withDiscardingTaskGroup { tasks in
            while !state.withLockedValue({ $0.stopping }) {
                let now = Date()
                while state.withLockedValue({ $0.inFlight < configuration.workers }), let id = scheduler.takeDue(now: now) {
                    state.withLockedValue { $0.inFlight += 1 }
                    tasks.addTask {
                        await self.deliver(id)
                        self.state.withLockedValue { $0.inFlight -= 1 }
                        self.wakeup.signal()
                    }
                }
                // All workers busy: a finishing delivery wakes us. Otherwise
                // sleep until the next message falls due (or a new one comes).
                let busy = state.withLockedValue { $0.inFlight >= configuration.workers }
                let wait = busy ? 1 : scheduler.nextDue.map { max(0.001, $0.timeIntervalSince(Date())) } ?? 1
                await wakeup.wait(seconds: min(wait, 1))
                await pool.prune()
            }
        }
        await pool.prune(everything: true)
    }

    /// Stops taking new work; `run` returns once deliveries in flight end.
    public func stop() {
        state.withLockedValue { $0.stopping = true }
        wakeup.signal()
    }

    // MARK: one message

    func deliver(_ id: QueueID) async {
        var envelope: Envelope
        do {
            envelope = try queue.envelope(id: id)
        } catch {
            logger.error("cannot read envelope", metadata: ["id": "\(id)", "error": "\(error)"])
            scheduler.finish(id, nextAttempt: nil)
            return
        }
        guard envelope.state == .ready || envelope.state == .deferred else {
            scheduler.finish(id, nextAttempt: nil)
            return
        }
        let open = envelope.recipients.indices.filter {
            envelope.recipients[$0].status == .pending || envelope.recipients[$0].status == .deferred
        }
        let byDomain = Dictionary(grouping: open) { domain(of: envelope.recipients[$0].address) }
        let snapshot = envelope
        let results = await withTaskGroup(of: [(Int, RecipientOutcome, String?)].self) { group in
            for (domain, indices) in byDomain {
                group.addTask { await self.deliver(snapshot, indices: indices, domain: domain) }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        var failed: [(Int, DeliveryReason, String?)] = []
        for (index, outcome, remote) in results {
            switch outcome {
            case .delivered(let reply):
                envelope.recipients[index].status = .delivered
                envelope.recipients[index].lastReply = "\(reply)"
                logger.info("delivered", metadata: ["id": "\(id)", "to": "<\(envelope.recipients[index].address)>",
                                                    "relay": "\(remote ?? "-")", "reply": "\(reply)"])
            case .deferred(let reason):
                envelope.recipients[index].status = .deferred
                envelope.recipients[index].lastReply = reason.description
                logger.info("deferred", metadata: ["id": "\(id)", "to": "<\(envelope.recipients[index].address)>",
                                                   "relay": "\(remote ?? "-")", "reason": "\(reason)"])
            case .failed(let reason):
                envelope.recipients[index].status = .failed
                envelope.recipients[index].lastReply = reason.description
                failed.append((index, reason, remote))
                logger.notice("failed", metadata: ["id": "\(id)", "to": "<\(envelope.recipients[index].address)>",
                                                   "relay": "\(remote ?? "-")", "reason": "\(reason)"])
            }
        }
        envelope.attempts += 1
        envelope.recordAttempts(results.map { (index: $0.0, outcome: $0.1, nextHop: $0.2) }, at: Date())
        finishAttempt(&envelope, failed: failed, remoteByIndex: Dictionary(results.map { ($0.0, $0.2) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Retry, expire, warn or remove; then bounce what failed.
    private func finishAttempt(_ envelope: inout Envelope, failed: [(Int, DeliveryReason, String?)],
                               remoteByIndex: [Int: String?]) {
        let now = Date()
        var failed = failed
        var next: Date?
        var delayed: [Int] = []
        let deferred = envelope.recipients.indices.filter { envelope.recipients[$0].status == .deferred }
        if !deferred.isEmpty {
            var rng = SystemRandomNumberGenerator()
            switch configuration.retry.nextAttempt(after: envelope.attempts, lastAttempt: now, created: envelope.created, random: &rng) {
            case .retry(let at):
                next = at
                if configuration.retry.shouldWarnDelay(created: envelope.created, now: now, alreadyWarned: envelope.delayWarned) {
                    delayed = deferred
                    envelope.delayWarned = true
                }
            case .expire:
                for index in deferred {
                    let last = envelope.recipients[index].lastReply ?? "no answer"
                    envelope.recipients[index].status = .failed
                    let reason = DeliveryReason.local(EnhancedStatusCode(4, 4, 7), "delivery time expired; last error: \(last)", stage: .connect)
                    envelope.recipients[index].lastReply = reason.description
                    failed.append((index, reason, remoteByIndex[index] ?? nil))
                }
            }
        }
        if !failed.isEmpty { bounce(envelope, kind: .failure, recipients: failed.map { (index: $0.0, reason: $0.1, remote: $0.2) }, willRetryUntil: nil) }
        if !delayed.isEmpty {
            let reports = delayed.map { index -> (index: Int, reason: DeliveryReason, remote: String?) in
                (index, .local(EnhancedStatusCode(4, 0, 0), envelope.recipients[index].lastReply ?? "deferred", stage: .connect),
                 remoteByIndex[index] ?? nil)
            }
            bounce(envelope, kind: .delay, recipients: reports, willRetryUntil: configuration.retry.expiry(created: envelope.created))
        }
        let id = envelope.id
        do {
            if let next {
                envelope.state = .deferred
                envelope.nextAttempt = next
                try queue.update(envelope)
            } else {
                try queue.remove(id)
                logger.info("removed", metadata: ["id": "\(id)"])
            }
        } catch {
            logger.error("cannot update queue", metadata: ["id": "\(id)", "error": "\(error)"])
            next = next ?? now.addingTimeInterval(configuration.retry.minimumDelay)
        }
        scheduler.finish(id, nextAttempt: next)
    }

    // MARK: one destination

    /// Delivers the recipients at `indices` (all in `domain`): route, then
    /// each next hop in turn until one takes the transaction.
    func deliver(_ envelope: Envelope, indices: [Int], domain: String) async -> [(Int, RecipientOutcome, String?)] {
        func all(_ outcome: RecipientOutcome, _ remote: String? = nil) -> [(Int, RecipientOutcome, String?)] {
            indices.map { ($0, outcome, remote) }
        }
        let isRelay = configuration.routes[domain] == nil && configuration.relayhost != nil
        switch await router.resolve(domain: domain) {
        case .permanentFailure(let reason):
            let code = reason.contains("null MX") ? EnhancedStatusCode(5, 1, 10) : EnhancedStatusCode(5, 1, 2)
            return all(.failed(.local(code, reason, stage: .connect)))
        case .temporaryFailure(let reason):
            return all(.deferred(.local(EnhancedStatusCode(4, 4, 3), reason, stage: .connect)))
        case .hops(let hops):
            var options = ClientOptions(heloName: configuration.hostname, tlsPolicy: isRelay ? configuration.relayTLS : configuration.tlsPolicy,
                                        timeouts: configuration.timeouts)
            if isRelay {
                options.credentials = configuration.relayCredentials
                // relay_tls = "none" with credentials: the operator chose plaintext AUTH.
                options.allowPlaintextAuth = configuration.relayTLS == .none
            }
            var lastReason = DeliveryReason.local(EnhancedStatusCode(4, 4, 1), "no next hop answered", stage: .connect)
            var message = OutboundMessage(envelope: envelope, bodyPath: queue.bodyPath(id: envelope.id),
                                          recipients: indices.map { envelope.recipients[$0].address })
            // BODY=8BITMIME is often declared for plain ASCII: only real 8-bit
            // octets need an 8BITMIME next hop.
            if message.eightBitMIME { message.eightBitMIME = Self.hasEightBitOctets(path: queue.bodyPath(id: envelope.id)) }
            for hop in hops {
                for address in hop.addresses {
                    let key = "\(address):\(hop.port)"
                    await limiter.acquire(key)
                    var hopOptions = options
                    hopOptions.tlsServerName = IPAddress(hop.host) == nil ? hop.host : nil
                    // A pooled connection first; if it died under us, once more on a fresh one.
                    if let pooled = await pool.take(key) {
                        let outcome = await pooled.send(message)
                        if pooled.isOpen || outcome.recipients.contains(where: { !$0.isDeferred }) {
                            await pool.put(key, pooled)
                            await limiter.release(key)
                            return zip(indices, outcome.recipients).map { ($0, $1, hop.host) }
                        }
                        await pooled.close()
                    }
                    let connection: SMTPConnection
                    do {
                        connection = try await SMTPConnection.open(host: address, port: hop.port, options: hopOptions,
                                                                   group: group, logger: logger)
                    } catch {
                        // Refused, timed out or a 4xx/5xx greeting: next host (RFC 5321 §5.1).
                        await limiter.release(key)
                        lastReason = error.reason
                        continue
                    }
                    let outcome = await connection.send(message)
                    await pool.put(key, connection)
                    await limiter.release(key)
                    return zip(indices, outcome.recipients).map { ($0, $1, hop.host) }
                }
            }
            return all(.deferred(lastReason))
        }
    }

    static func hasEightBitOctets(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return true }
        defer { try? handle.close() }
        while let chunk = try? handle.read(upToCount: 65536), !chunk.isEmpty {
            if chunk.contains(where: { $0 >= 0x80 }) { return true }
        }
        return false
    }

    private func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return configuration.hostname.lowercased() } // <Postmaster>
        return address[address.index(after: at)...].lowercased()
    }
}

/// Lets the run loop sleep until there is work or a deadline passes.
final class Wakeup: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Void, Never>?
    private var signaled = false

    func signal() {
        lock.lock()
        if let continuation {
            self.continuation = nil
            lock.unlock()
            continuation.resume()
        } else {
            signaled = true
            lock.unlock()
        }
    }

    func wait(seconds: Double) async {
        // The deadline's task is cancelled when a signal comes first, so
        // timers never pile up under load and wake the loop for nothing.
        let deadline = Task { [self] in
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            if !Task.isCancelled { self.signal() }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if signaled {
                signaled = false
                lock.unlock()
                continuation.resume()
                return
            }
            self.continuation = continuation
            lock.unlock()
        }
        deadline.cancel()
    }
}
