import Foundation
import NIOCore
import Testing
@testable import MailQueue

@Suite("Delivery scheduler")
struct DeliverySchedulerTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func id(_ n: UInt64) -> QueueID { QueueID(value: n) }

    @Test func handsOutDueMessagesInOrder() {
        let s = DeliveryScheduler()
        s.schedule(id(3), at: t0.addingTimeInterval(30))
        s.schedule(id(1), at: t0.addingTimeInterval(10))
        s.schedule(id(2), at: t0.addingTimeInterval(20))
        #expect(s.takeDue(now: t0) == nil)
        #expect(s.nextDue == t0.addingTimeInterval(10))
        #expect(s.takeDue(now: t0.addingTimeInterval(25)) == id(1))
        #expect(s.takeDue(now: t0.addingTimeInterval(25)) == id(2))
        #expect(s.takeDue(now: t0.addingTimeInterval(25)) == nil)
        #expect(s.inFlightCount == 2 && s.waitingCount == 1)
    }

    @Test func neverTwoWorkersOnOneMessage() {
        let s = DeliveryScheduler()
        s.schedule(id(1), at: t0)
        #expect(s.takeDue(now: t0) == id(1))
        s.schedule(id(1), at: t0) // e.g. a flush while it is being delivered
        #expect(s.takeDue(now: t0) == nil)
        s.finish(id(1), nextAttempt: t0.addingTimeInterval(60))
        #expect(s.takeDue(now: t0) == nil)
        #expect(s.takeDue(now: t0.addingTimeInterval(60)) == id(1))
    }

    @Test func reschedulingReplacesTheOldTime() {
        let s = DeliveryScheduler()
        s.schedule(id(1), at: t0.addingTimeInterval(100))
        s.schedule(id(1), at: t0.addingTimeInterval(5))
        #expect(s.takeDue(now: t0.addingTimeInterval(5)) == id(1))
        #expect(s.takeDue(now: t0.addingTimeInterval(200)) == nil) // the stale entry is ignored
        s.schedule(id(2), at: t0)
        s.remove(id(2))
        #expect(s.takeDue(now: t0.addingTimeInterval(200)) == nil)
        #expect(s.nextDue == nil)
    }

    @Test func concurrentWorkersEachGetDistinctMessages() async {
        let s = DeliveryScheduler()
        for n in 1...1000 { s.schedule(id(UInt64(n)), at: t0) }
        let taken = await withTaskGroup(of: [QueueID].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var mine: [QueueID] = []
                    while let next = s.takeDue(now: self.t0) { mine.append(next) }
                    return mine
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(taken.count == 1000 && Set(taken).count == 1000)
    }

    static func envelope(_ id: QueueID) -> Envelope {
        Envelope(id: id, sender: "a@b.test", recipients: [.init(address: "c@d.test")], size: 1,
                 clientAddress: "127.0.0.1", clientHelo: nil, receivedProtocol: "ESMTP")
    }

    @Test func theCommittedEnvelopeServesTheFirstAttemptOnly() {
        let scheduler = DeliveryScheduler()
        let id = QueueID(value: 7)
        scheduler.schedule(id, at: Date(timeIntervalSince1970: 0), envelope: Self.envelope(id))
        #expect(scheduler.takeDue(now: Date()) == id)
        #expect(scheduler.takeFresh(id)?.envelope.id == id)
        #expect(scheduler.takeFresh(id) == nil, "the next attempt reads the queue")
        scheduler.finish(id, nextAttempt: Date(timeIntervalSince1970: 0))
        #expect(scheduler.takeDue(now: Date()) == id)
        #expect(scheduler.takeFresh(id) == nil)
    }

    @Test func anOperatorsClaimForgetsTheCommittedEnvelope() {
        let scheduler = DeliveryScheduler()
        let id = QueueID(value: 8)
        scheduler.schedule(id, at: Date(timeIntervalSince1970: 0), envelope: Self.envelope(id))
        #expect(scheduler.claim(id))
        scheduler.finish(id, nextAttempt: Date(timeIntervalSince1970: 0))
        #expect(scheduler.takeDue(now: Date()) == id)
        #expect(scheduler.takeFresh(id) == nil, "queue hold/bounce may have changed the file")
        let other = QueueID(value: 9)
        scheduler.schedule(other, at: Date(timeIntervalSince1970: 0), envelope: Self.envelope(QueueID(value: 10)))
        #expect(scheduler.takeFresh(other) == nil, "an envelope is kept only under its own ID")
    }

    /// Bodies ride along only while their total stays small: the rest of a
    /// backlog is read from the queue files.
    @Test func committedBodiesAreKeptWithinABudget() {
        let scheduler = DeliveryScheduler()
        let big = HeldBody(bytes: ByteBuffer(repeating: 65, count: DeliveryScheduler.maxFreshBodyBytes / 2 + 1), isPlain: true)
        let first = QueueID(value: 11), second = QueueID(value: 12), third = QueueID(value: 13)
        scheduler.schedule(first, at: Date(timeIntervalSince1970: 0), envelope: Self.envelope(first), body: big)
        scheduler.schedule(second, at: Date(timeIntervalSince1970: 0), envelope: Self.envelope(second), body: big)
        #expect(scheduler.takeFresh(second)?.body == nil, "over the budget: envelope only")
        #expect(scheduler.takeFresh(first)?.body?.bytes.readableBytes == big.bytes.readableBytes)
        // The first one's bytes were given back when it was taken.
        scheduler.schedule(third, at: Date(timeIntervalSince1970: 0), envelope: Self.envelope(third), body: big)
        #expect(scheduler.takeFresh(third)?.body?.bytes.readableBytes == big.bytes.readableBytes)
    }
}
