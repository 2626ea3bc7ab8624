import DNSModel
import Foundation
import Logging
import MailMessage
import MailQueue
import MTASTS
import Synchronization
import NIOCore
import SMTPCore

/// Takes due messages from the scheduler and delivers them: route each
/// recipient's domain, talk SMTP to the next hop, record per-recipient
/// outcomes in the envelope, bounce what failed, and schedule a retry for
/// what was deferred.
///
/// Delivery is isolated per destination, as in Postfix's queue manager: up
/// to `maxActive` messages are in progress, each a cheap task; one waits for
/// a slot at its next hop (`DestinationLimiter`) before it takes one of the
/// `workers` session slots, so a slow or silent hop holds only its own
/// slots, and a hop marked dead defers its messages without trying.
public final class DeliveryAgent: Sendable {
    let queue: MailQueue
    public let scheduler: DeliveryScheduler
    /// Routes and relayhost as configured now (a reload may change them).
    private let routing: Mutex<Router>
    var router: Router { routing.withLock { $0 } }
    let configuration: DeliveryConfiguration
    let group: EventLoopGroup
    let logger: Logger
    let limiter: DestinationLimiter
    let sessions: SessionSlots
    let pool: ConnectionPool
    /// MTA-STS policies for MX delivery; nil: off (`[delivery] mta_sts = false`).
    let mtaSTS: MTASTSPolicySource?
    let wakeup = Wakeup()
    let state = Mutex(RunState())

    struct RunState {
        var stopping = false
        var inFlight = 0
    }

    public init(queue: MailQueue, router: Router, configuration: DeliveryConfiguration, group: EventLoopGroup,
                logger: Logger, mtaSTS: MTASTSPolicySource? = nil) {
        self.queue = queue
        self.mtaSTS = mtaSTS
        routing = Mutex(router)
        self.configuration = configuration
        self.group = group
        self.logger = logger
        scheduler = DeliveryScheduler()
        limiter = DestinationLimiter(limit: configuration.perDestinationLimit, policy: configuration.deadDestinations)
        sessions = SessionSlots(limit: configuration.workers)
        pool = ConnectionPool(maxIdlePerKey: configuration.perDestinationLimit, idleTimeout: configuration.connectionIdleSeconds)
    }

    /// New `[delivery.routes]` and relayhost, from the next attempt on (a
    /// reload; `queue requeue` then sends waiting mail the new way at once).
    public func updateRoutes(_ routes: [String: Router.Route], relayhost: Router.Destination?) {
        routing.withLock { router in
            router = Router(routes: routes, relayhost: relayhost, smtpPort: router.smtpPort, resolver: router.resolver)
        }
    }

    /// Rebuilds the schedule from the queue (at start).
    public func loadQueue() throws {
        let now = Date()
        for envelope in try queue.envelopes() where envelope.state.awaitsDelivery {
            scheduler.schedule(envelope.id, at: min(envelope.nextAttempt ?? now, now.addingTimeInterval(configuration.retry.maximumDelay)))
        }
    }

    /// A new message was committed: try it at once.
    public func enqueue(_ id: QueueID) {
        scheduler.schedule(id, at: Date())
        wakeup.signal()
    }

    /// The same, with the envelope just committed (and its body, when it
    /// was small enough to stay in memory): the first attempt uses them
    /// instead of reading them back.
    public func enqueue(_ envelope: Envelope, body: HeldBody? = nil) {
        scheduler.schedule(envelope.id, at: Date(), envelope: envelope, body: body)
        wakeup.signal()
    }

    /// Runs until `stop`; deliveries in flight finish first.
    public func run() async {
        var lastPrune: UInt64 = 0
        await withDiscardingTaskGroup { tasks in
            while !state.withLock({ $0.stopping }) {
                let now = Date()
                while state.withLock({ $0.inFlight < configuration.maxActive }), let id = scheduler.takeDue(now: now) {
                    state.withLock { $0.inFlight += 1 }
                    tasks.addTask {
                        await self.deliver(id)
                        let wasFull = self.state.withLock { state in
                            defer { state.inFlight -= 1 }
                            return state.inFlight >= self.configuration.maxActive
                        }
                        // The loop needs waking only to take what this slot makes room
                        // for, or a retry due before its next look (it looks at least
                        // once a second): not after every delivered message (issue #15).
                        if wasFull || (self.scheduler.nextDue.map { $0.timeIntervalSinceNow < 1 } ?? false) {
                            self.wakeup.signal()
                        }
                    }
                }
                // As many messages in progress as allowed: a finishing one wakes
                // us. Otherwise sleep until the next message falls due (or a new one comes).
                let busy = state.withLock { $0.inFlight >= configuration.maxActive }
                let wait = busy ? 1 : scheduler.nextDue.map { max(0.001, $0.timeIntervalSince(Date())) } ?? 1
                await wakeup.wait(seconds: min(wait, 1))
                // Idle connections and forgotten destinations age in seconds:
                // a look four times a second is enough (not one per message).
                let uptime = DispatchTime.now().uptimeNanoseconds
                if uptime &- lastPrune >= 250_000_000 {
                    lastPrune = uptime
                    await pool.prune()
                    await limiter.prune()
                }
            }
        }
        await pool.prune(everything: true)
    }

    /// Stops taking new work; `run` returns once deliveries in flight end.
    /// Messages still waiting for a slot are let go untouched.
    public func stop() {
        state.withLock { $0.stopping = true }
        wakeup.signal()
        Task {
            await limiter.stop()
            await sessions.stop()
        }
    }

    // MARK: one message

    func deliver(_ id: QueueID) async {
        var envelope: Envelope
        // As committed: no status change since, so no sidecar envelope on disk.
        let fresh = scheduler.takeFresh(id)
        do {
            envelope = try fresh?.envelope ?? queue.envelope(id: id)
        } catch {
            logger.error("cannot read envelope", metadata: ["id": "\(id)", "error": "\(error)"])
            scheduler.finish(id, nextAttempt: nil)
            return
        }
        guard envelope.state.awaitsDelivery else {
            scheduler.finish(id, nextAttempt: nil)
            return
        }
        let open = envelope.recipients.indices.filter { envelope.recipients[$0].status.isUndelivered }
        // <Postmaster> has no domain: it is ours.
        let byDomain = Dictionary(grouping: open) { envelope.recipients[$0].domain ?? configuration.hostname.lowercased() }
        let snapshot = envelope
        // A view of the committed body from the body offset: no copy.
        let body = fresh?.body.map { committed in
            var view = committed
            view.bytes.moveReaderIndex(forwardBy: min(snapshot.bodyOffset, view.bytes.readableBytes))
            return view
        }
        // One domain (the usual case) needs no child task.
        let attempts: [DomainAttempt]
        if byDomain.count == 1, let (domain, indices) = byDomain.first {
            attempts = [await deliver(snapshot, indices: indices, domain: domain, body: body)]
        } else {
            attempts = await withTaskGroup(of: DomainAttempt.self) { group in
                for (domain, indices) in byDomain {
                    group.addTask { await self.deliver(snapshot, indices: indices, domain: domain, body: body) }
                }
                return await group.reduce(into: [DomainAttempt]()) { $0.append($1) }
            }
        }
        if attempts.allSatisfy(\.stopped) {
            // Delivery stopped before anything was tried: the envelope stays as it was.
            scheduler.finish(id, nextAttempt: Date())
            return
        }
        let results = attempts.flatMap(\.results)
        var tls: [Int: DeliveryTLS] = [:]
        for attempt in attempts { if let outcome = attempt.tls { for (index, _, _) in attempt.results { tls[index] = outcome } } }
        DeliveryMetrics.attempts.increment()
        let failed = record(results, tls: tls, in: &envelope)
        reportSuccess(envelope, notices: results.compactMap { index, outcome, relay in
            guard case .delivered(let reply) = outcome, let action = relay?.successAction else { return nil }
            return SuccessNotice(index: index, action: action, reply: reply, remoteMTA: relay?.remoteMTA)
        })
        envelope.attempts += 1
        envelope.recordAttempts(results.map { (index: $0.0, outcome: $0.1, nextHop: $0.2?.description) }, at: Date())
        finishAttempt(&envelope, failed: failed, sidecar: fresh == nil,
                      remoteByIndex: Dictionary(results.map { ($0.0, $0.2?.remoteMTA) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Puts each recipient's outcome into the envelope and the log; returns the failed ones.
    private func record(_ results: [DomainAttempt.Result], tls: [Int: DeliveryTLS],
                        in envelope: inout Envelope) -> [(Int, DeliveryReason, String?)] {
        let id = envelope.id
        var failed: [(Int, DeliveryReason, String?)] = []
        for (index, outcome, relay) in results {
            DeliveryMetrics.count(outcome)
            let remote = relay?.description
            switch outcome {
            case .delivered(let reply):
                envelope.recipients[index].status = .delivered
                let replyText = reply.description
                envelope.recipients[index].lastReply = replyText
                var metadata: Logger.Metadata = ["id": "\(id)", "to": "<\(envelope.recipients[index].address)>",
                                                 "relay": "\(remote ?? "-")", "reply": "\(replyText)"]
                if let session = tls[index] {
                    metadata["tls"] = "\(session.version ?? "none")"
                    if let cipher = session.cipher { metadata["tls_cipher"] = "\(cipher)" }
                    metadata["tls_verified"] = "\(session.verified ? "yes" : "no")"
                    metadata["tls_policy"] = "\(session.policy)"
                }
                logger.info("delivered", metadata: metadata)
            case .deferred(let reason):
                envelope.recipients[index].status = .deferred
                envelope.recipients[index].lastReply = reason.description
                logger.info("deferred", metadata: ["id": "\(id)", "to": "<\(envelope.recipients[index].address)>",
                                                   "relay": "\(remote ?? "-")", "reason": "\(reason)"])
            case .failed(let reason):
                envelope.recipients[index].status = .failed
                envelope.recipients[index].lastReply = reason.description
                failed.append((index, reason, relay?.remoteMTA))
                logger.notice("failed", metadata: ["id": "\(id)", "to": "<\(envelope.recipients[index].address)>",
                                                   "relay": "\(remote ?? "-")", "reason": "\(reason)"])
            }
        }
        return failed
    }

    /// Retry, expire, warn or remove; then bounce what failed. `sidecar`:
    /// the envelope on disk may be an `ID.env` (not the one as committed).
    private func finishAttempt(_ envelope: inout Envelope, failed: [(Int, DeliveryReason, String?)], sidecar: Bool,
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
                try queue.remove(id, sidecar: sidecar, finished: true)
                logger.info("removed", metadata: ["id": "\(id)"])
            }
        } catch {
            logger.error("cannot update queue", metadata: ["id": "\(id)", "error": "\(error)"])
            next = next ?? now.addingTimeInterval(configuration.retry.minimumDelay)
        }
        scheduler.finish(id, nextAttempt: next)
    }
}

/// Lets the run loop sleep until there is work or a deadline passes.
final class Wakeup: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Void, Never>?
        var signaled = false
        /// When the armed timer fires (uptime ns); nil: none armed.
        var timer: UInt64?
    }

    private let state = Mutex(State())

    func signal() {
        let waiting = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let continuation = state.continuation else {
                state.signaled = true
                return nil
            }
            state.continuation = nil
            return continuation
        }
        waiting?.resume()
    }

    func wait(seconds: Double) async {
        // A timer that fires no later than this deadline is kept, not
        // replaced: under load the loop waits once per message, and a timer
        // per wait (a task, a dispatch timer, its manager thread woken twice)
        // cost more than the delivery's own hops (issue #15). A timer that
        // fires early only makes the loop look again.
        let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(seconds * 1_000_000_000)
        let arm = state.withLock { state -> Bool in
            if state.signaled { return false }
            if let timer = state.timer, timer <= deadline { return false }
            state.timer = deadline
            return true
        }
        if arm {
            Task { [self] in
                try? await Task.sleep(nanoseconds: deadline &- min(deadline, DispatchTime.now().uptimeNanoseconds))
                state.withLock { state in if state.timer == deadline { state.timer = nil } }
                signal()
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let already = state.withLock { state -> Bool in
                if state.signaled {
                    state.signaled = false
                    return true
                }
                state.continuation = continuation
                return false
            }
            if already { continuation.resume() }
        }
    }
}
