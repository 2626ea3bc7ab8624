import Foundation
import SMTPCore
import Synchronization
import Testing
@testable import Delivery

@Suite("Destination slots and dead destinations")
struct DestinationLimiterTests {
    final class Clock: Sendable {
        let time = Mutex(Date(timeIntervalSinceReferenceDate: 0))
        func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
        var now: @Sendable () -> Date { { self.time.withLock { $0 } } }
    }

    static let refused = DeliveryReason.local(EnhancedStatusCode(4, 4, 1), "connect to 10.0.0.1:25 failed: refused", stage: .connect)
    static let key = "10.0.0.1:25"

    /// Starts `count` acquires that must wait, one after the other (so they
    /// queue in this order), and returns once they all do.
    static func waiters(_ limiter: DestinationLimiter, _ count: Int, key: String = key) async -> [Task<DestinationLimiter.Grant, Never>] {
        var tasks: [Task<DestinationLimiter.Grant, Never>] = []
        for _ in 0..<count {
            let before = await limiter.waitingCount(key)
            tasks.append(Task { await limiter.acquire(key) })
            while await limiter.waitingCount(key) == before { await Task.yield() }
        }
        return tasks
    }

    @Test func slotsPerDestination() async {
        let limiter = DestinationLimiter(limit: 2, policy: .init(deadAfter: 1, deadTime: 60))
        #expect(await limiter.acquire(Self.key) == .granted(probe: false))
        #expect(await limiter.acquire(Self.key) == .granted(probe: false))
        #expect(await limiter.acquire("10.0.0.2:25") == .granted(probe: false)) // another destination keeps its pace
        let third = await Self.waiters(limiter, 1)
        await limiter.release(Self.key, verdict: .reachable)
        #expect(await third[0].value == .granted(probe: false))
    }

    @Test func markedDeadReleasesEveryWaiterAtOnce() async {
        let clock = Clock()
        let limiter = DestinationLimiter(limit: 1, policy: .init(deadAfter: 1, deadTime: 60), now: clock.now)
        #expect(await limiter.acquire(Self.key) == .granted(probe: false))
        let waiting = await Self.waiters(limiter, 5)
        let transition = await limiter.release(Self.key, verdict: .unreachable(Self.refused))
        #expect(transition == .markedDead(Self.refused))
        let suspended = DeliveryReason.local(EnhancedStatusCode(4, 4, 1),
                                             "delivery temporarily suspended: connect to 10.0.0.1:25 failed: refused",
                                             stage: .connect)
        for task in waiting { #expect(await task.value == .suspended(suspended)) }
        // While dead, nobody waits: deferred at once.
        clock.advance(59)
        #expect(await limiter.acquire(Self.key) == .suspended(suspended))
    }

    /// A limiter (3 per destination, dead for 60 s) whose `key` was marked
    /// dead at 0 and is being probed at `after` seconds.
    static func probing(after: Double) async -> (DestinationLimiter, Clock) {
        let clock = Clock()
        let limiter = DestinationLimiter(limit: 3, policy: .init(deadAfter: 1, deadTime: 60), now: clock.now)
        _ = await limiter.acquire(key)
        await limiter.release(key, verdict: .unreachable(refused))
        clock.advance(after)
        #expect(await limiter.acquire(key) == .granted(probe: true))
        return (limiter, clock)
    }

    @Test func oneProbeAtATimeThenRevived() async {
        let (limiter, _) = await Self.probing(after: 60)
        let behindProbe = await Self.waiters(limiter, 4)
        let transition = await limiter.release(Self.key, verdict: .reachable)
        #expect(transition == .revived(wasDeadFor: Self.refused))
        // Revived: the limit (3) goes ahead, the fourth waits for a slot.
        var granted = 0
        for task in behindProbe.prefix(3) where await task.value == .granted(probe: false) { granted += 1 }
        #expect(granted == 3)
        #expect(await limiter.waitingCount(Self.key) == 1)
        await limiter.release(Self.key, verdict: .reachable)
        #expect(await behindProbe[3].value == .granted(probe: false))
    }

    @Test func failedProbeSuspendsThoseBehindIt() async {
        let (limiter, clock) = await Self.probing(after: 61)
        let behindProbe = await Self.waiters(limiter, 2)
        let timedOut = DeliveryReason.local(EnhancedStatusCode(4, 4, 2), "timed out after 30 s", stage: .greeting)
        #expect(await limiter.release(Self.key, verdict: .unreachable(timedOut)) == .markedDead(timedOut))
        for task in behindProbe {
            #expect(await task.value == .suspended(DestinationHealth.suspension(of: timedOut)))
        }
        // Dead again for a whole dead time from the probe's end.
        clock.advance(59)
        #expect(await limiter.acquire(Self.key) == .suspended(DestinationHealth.suspension(of: timedOut)))
        clock.advance(1)
        #expect(await limiter.acquire(Self.key) == .granted(probe: true))
    }

    @Test func stopLetsWaitersGo() async {
        let limiter = DestinationLimiter(limit: 1, policy: .init())
        _ = await limiter.acquire(Self.key)
        let waiting = await Self.waiters(limiter, 3)
        await limiter.stop()
        for task in waiting { #expect(await task.value == .stopping) }
        #expect(await limiter.acquire("10.0.0.9:25") == .stopping)
    }

    @Test func forgetsWhatIsNotWorthRemembering() async {
        let clock = Clock()
        let limiter = DestinationLimiter(limit: 1, policy: .init(deadAfter: 1, deadTime: 10), now: clock.now)
        _ = await limiter.acquire("a:25")
        await limiter.release("a:25", verdict: .reachable)
        #expect(await limiter.health("a:25") == nil)
        _ = await limiter.acquire("b:25")
        await limiter.release("b:25", verdict: .unreachable(Self.refused))
        clock.advance(15)
        await limiter.prune()
        #expect(await limiter.health("b:25") != nil) // still owed a probe
        clock.advance(5)
        await limiter.prune()
        #expect(await limiter.health("b:25") == nil)
    }

    @Test func sessionSlotsBoundAttemptsAcrossDestinations() async {
        let slots = SessionSlots(limit: 2)
        #expect(await slots.acquire())
        #expect(await slots.acquire())
        let third = Task { await slots.acquire() }
        while await slots.waitingCount < 1 { await Task.yield() }
        let fourth = Task { await slots.acquire() }
        while await slots.waitingCount < 2 { await Task.yield() }
        await slots.release()
        #expect(await third.value)
        #expect(await slots.inUse == 2)
        await slots.stop()
        #expect(await fourth.value == false)
        #expect(await slots.acquire() == false)
    }
}
