import Foundation
import Testing
@testable import MailQueue

/// A fresh queue directory under /tmp, removed afterwards.
final class TemporaryDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "postern-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func envelope(for spool: Spool, sender: String = "a@example.org") -> Envelope {
    Envelope(id: spool.id, sender: sender, recipients: [.init(address: "b@example.net")], size: spool.size,
             clientAddress: "127.0.0.1", clientHelo: "test", receivedProtocol: "ESMTP")
}

@Suite("Mail queue")
struct MailQueueTests {
    /// Large bodies are written by the spool's own queue: what the content
    /// checks read is complete, the backlog drains, and a discard removes
    /// the file after the writes that were still pending.
    @Test func largeBodyIsWrittenOffTheCallerAndReadBackWhole() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, spoolMemoryLimit: 1024)
        defer { queue.close() }
        let spool = queue.makeSpool()
        var expected: [UInt8] = []
        for index in 0..<2000 {
            let line = Array("line \(index) \(String(repeating: "x", count: index % 70))\r\n".utf8)
            spool.append(line)
            expected += line
        }
        await withCheckedContinuation { done in spool.whenWritten { done.resume() } }
        #expect(!spool.isBacklogged)
        let readable = try await spool.contentForReading()
        let path = try #require(readable.path)
        #expect(readable.bytes == nil && Array(FileManager.default.contents(atPath: path) ?? Data()) == expected)
        spool.discard()
        await withCheckedContinuation { done in spool.whenWritten { done.resume() } }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test(arguments: MailQueue.SyncMode.allCases)
    func commitThenRead(mode: MailQueue.SyncMode) async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, syncMode: mode, spoolMemoryLimit: 1024)
        defer { queue.close() }
        let small = queue.makeSpool()
        small.append("Subject: small\r\n\r\nhello\r\n")
        try await queue.commit(small, envelope: envelope(for: small))
        let big = queue.makeSpool()
        let line = Array(String(repeating: "z", count: 98).utf8) + [13, 10]
        for _ in 0..<100 { big.append(line) } // 10 000 octets: past the memory limit, so on disk early
        try await queue.commit(big, envelope: envelope(for: big))

        let reader = QueueReader(directory: dir.path)
        let entries = try reader.list()
        #expect(entries.count == 2)
        #expect(try reader.body(id: small.id) == Array("Subject: small\r\n\r\nhello\r\n".utf8))
        #expect(try reader.body(id: big.id).count == 10_000)
        #expect(try reader.envelope(id: big.id).size == 10_000)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/incoming").isEmpty)
        let stats = queue.stats
        #expect(stats.messages == 2)
        #expect(stats.syncCalls == (mode == .syncfs ? 2 * stats.batches : 2 * stats.messages + stats.batches))
    }

    @Test func concurrentCommitsShareSyncs() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let spool = queue.makeSpool()
                    spool.append("Subject: \(index)\r\n\r\nbody \(index)\r\n")
                    try await queue.commit(spool, envelope: envelope(for: spool))
                }
            }
            try await group.waitForAll()
        }
        let stats = queue.stats
        #expect(stats.messages == 200)
        #expect(stats.syncCalls == 2 * stats.batches)
        #expect(stats.batches < 200) // some batch held more than one message
        #expect(try QueueReader(directory: dir.path).list().count == 200)
    }

    @Test func failedCommitReportsAndLeavesNothing() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        // The message directory vanishes under the queue: the rename fails.
        try FileManager.default.removeItem(atPath: dir.path + "/msg")
        let spool = queue.makeSpool()
        spool.append("Subject: x\r\n\r\nx\r\n")
        await #expect(throws: QueueIOError.self) { try await queue.commit(spool, envelope: envelope(for: spool)) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/incoming").isEmpty)
        #expect(queue.stats.failures == 1)
    }

    @Test func discardedSpoolLeavesNoFile() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, spoolMemoryLimit: 16)
        defer { queue.close() }
        let spool = queue.makeSpool()
        spool.append(Array(repeating: 65, count: 100))
        await withCheckedContinuation { done in spool.whenWritten { done.resume() } }
        #expect(FileManager.default.fileExists(atPath: dir.path + "/incoming/\(spool.id).eml"))
        spool.discard()
        await withCheckedContinuation { done in spool.whenWritten { done.resume() } }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/incoming/\(spool.id).eml"))
    }

    @Test func recoverySetsAsideWhatItCannotRead() async throws {
        let dir = TemporaryDirectory()
        let good: QueueID
        do {
            let queue = try MailQueue(directory: dir.path)
            let spool = queue.makeSpool()
            spool.append("Subject: keep\r\n\r\nkeep\r\n")
            try await queue.commit(spool, envelope: envelope(for: spool))
            good = spool.id
            queue.close()
        }
        let fm = FileManager.default
        // A torn envelope, an envelope with no body, an orphan body, and junk in incoming/.
        _ = fm.createFile(atPath: dir.path + "/msg/0000000000000010.env", contents: Data("postern-envelope 1\nid 00".utf8))
        _ = fm.createFile(atPath: dir.path + "/msg/0000000000000010.eml", contents: Data("body".utf8))
        try Data(EnvelopeCodec.encode(Envelope(id: QueueID(value: 0x20), sender: "", recipients: [.init(address: "x@y.example")],
                                               size: 1, clientAddress: "127.0.0.1", clientHelo: nil, receivedProtocol: "ESMTP")))
            .write(to: URL(fileURLWithPath: dir.path + "/msg/0000000000000020.env"))
        _ = fm.createFile(atPath: dir.path + "/msg/0000000000000030.eml", contents: Data("orphan".utf8))
        _ = fm.createFile(atPath: dir.path + "/incoming/0000000000000040.eml", contents: Data("partial".utf8))

        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        #expect(queue.recovery.loaded == 1)
        #expect(Set(queue.recovery.corrupt) == ["0000000000000010", "0000000000000020"])
        #expect(queue.recovery.orphanBodies == 1)
        #expect(queue.recovery.highestID == good)
        #expect(Set(try fm.contentsOfDirectory(atPath: dir.path + "/corrupt")) ==
                ["0000000000000010.env", "0000000000000010.eml", "0000000000000020.env"])
        #expect(try fm.contentsOfDirectory(atPath: dir.path + "/incoming").isEmpty)
        #expect(Set(try fm.contentsOfDirectory(atPath: dir.path + "/msg")) == ["\(good).env", "\(good).eml"])
        #expect(queue.makeSpool().id > good)
    }
}

@Suite("Queue updates after commit")
struct QueueUpdateTests {
    @Test func updateRewritesOnlyTheEnvelopeAndRemoveDeletesBoth() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        let spool = queue.makeSpool()
        spool.append("Subject: x\r\n\r\nx\r\n")
        var env = envelope(for: spool)
        env.created = Date(timeIntervalSince1970: 1_800_000_000.5) // the file keeps microseconds
        try await queue.commit(spool, envelope: env)
        env.attempts = 1
        env.state = .deferred
        env.recipients[0].status = .deferred
        env.recipients[0].lastReply = "451 4.3.0 later"
        try queue.update(env)
        #expect(try queue.envelope(id: spool.id) == env)
        #expect(try queue.envelopes() == [env])
        #expect(FileManager.default.fileExists(atPath: queue.bodyPath(id: spool.id)))
        try queue.remove(spool.id)
        #expect(try queue.envelopes().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: queue.bodyPath(id: spool.id)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/incoming").isEmpty)
    }
}
