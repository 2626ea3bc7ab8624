import Foundation
import Testing
@testable import MailQueue

@Suite("Queue census")
struct QueueCensusTests {
    @Test func countsStatesOldestFirstUpToTheLimit() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, syncMode: .fsync)
        defer { queue.close() }
        var ids: [QueueID] = []
        for (index, state) in [Envelope.State.deferred, .hold, .ready, .ready].enumerated() {
            let spool = queue.makeSpool()
            spool.append("Subject: \(index)\r\n\r\nhello\r\n")
            var message = envelope(for: spool)
            message.created = Date(timeIntervalSince1970: 1_000_000 + Double(index))
            message.state = state
            try await queue.commit(spool, envelope: message)
            ids.append(spool.id)
        }
        let reader = QueueReader(directory: dir.path)
        let all = try reader.census(limit: 100)
        #expect(all.byState == [.deferred: 1, .hold: 1, .ready: 2])
        #expect(all.unscanned == 0)
        #expect(all.oldestCreated == Date(timeIntervalSince1970: 1_000_000))

        // Over the limit the newest are counted, not read; the oldest is still found.
        let capped = try reader.census(limit: 2)
        #expect(capped.byState == [.deferred: 1, .hold: 1])
        #expect(capped.unscanned == 2)
        #expect(capped.oldestCreated == Date(timeIntervalSince1970: 1_000_000))

        try "garbage".write(toFile: dir.path + "/msg/\(ids[0]).env", atomically: true, encoding: .utf8)
        let damaged = try reader.census(limit: 100)
        #expect(damaged.unreadable == 1)
        #expect(damaged.byState == [.hold: 1, .ready: 2])
        #expect(damaged.oldestCreated == Date(timeIntervalSince1970: 1_000_001))
    }

    @Test func emptyQueue() throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        let census = try QueueReader(directory: dir.path).census(limit: 10)
        #expect(census == QueueCensus())
    }
}
