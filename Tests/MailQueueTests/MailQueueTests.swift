import Foundation
import Synchronization
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

func envelope(for spool: Spool, sender: String = "a@example.org", created: Date = Date()) -> Envelope {
    Envelope(id: spool.id, created: created, sender: sender, recipients: [.init(address: "b@example.net")], size: spool.size,
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
        // The classic commit (journal off; CommitJournalTests has the journal's).
        let queue = try MailQueue(directory: dir.path, syncMode: mode, spoolMemoryLimit: 1024, journalSize: 0)
        defer { queue.close() }
        let small = queue.makeSpool()
        small.append("Subject: small\r\n\r\nhello\r\n")
        var smallEnvelope = envelope(for: small)
        smallEnvelope.addedHeaders = ["X-Test: 1\r\n"]
        try await queue.commit(small, envelope: smallEnvelope)
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
        #expect(stats.syncCalls == (mode == .syncfs ? 2 * stats.batches : stats.messages + stats.batches))
        // One file per message, whose body range is the body and no more.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/msg")) == ["\(small.id).msg", "\(big.id).msg"])
        let stored = try reader.envelope(id: small.id)
        #expect(try reader.message(stored) == Array("X-Test: 1\r\nSubject: small\r\n\r\nhello\r\n".utf8))
        #expect(try reader.message(stored, limit: 14) == Array("X-Test: 1\r\nSub".utf8))
    }

    /// A body that outgrows the first 16 KiB but stays under the memory
    /// limit: written with its envelope in one writev, and handed to the
    /// first delivery attempt as committed.
    @Test func inMemoryBodyPastTheFirstBlock() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, spoolMemoryLimit: 128 << 10)
        defer { queue.close() }
        let spool = queue.makeSpool()
        var expected: [UInt8] = []
        for index in 0..<1500 { // about 60 KiB in lines of varying length
            let line = Array("line \(index) \(String(repeating: "y", count: index % 50))\r\n".utf8)
            spool.append(line)
            expected += line
        }
        try await queue.commit(spool, envelope: envelope(for: spool))
        #expect(spool.committedBytes.map { Array($0.readableBytesView) } == expected)
        let reader = QueueReader(directory: dir.path)
        #expect(try reader.body(id: spool.id) == expected)
        #expect(try reader.envelope(id: spool.id).size == expected.count)
    }

    /// Journal off: a syncfs and a directory fsync a batch; on: one
    /// fdatasync of the journal a batch.
    @Test(arguments: [0, MailQueue.defaultJournalSize])
    func concurrentCommitsShareSyncs(journalSize: Int) async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, journalSize: journalSize)
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
        #expect(stats.syncCalls == (journalSize == 0 ? 2 : 1) * stats.batches)
        #expect(stats.batches < 200) // some batch held more than one message
        #expect(try QueueReader(directory: dir.path).list().count == 200)
    }

    /// The commit delay: a commit made while another body is still
    /// arriving waits (at most the delay) for it, and one batch, one sync,
    /// serves both. Without the delay, or with nothing arriving, each
    /// commit is its own batch at once.
    @Test func commitWaitsForABodyStillArriving() async throws {
        for delay in [0.0, 30.0] {
            let dir = TemporaryDirectory()
            let queue = try MailQueue(directory: dir.path, commitDelay: delay)
            defer { queue.close() }
            let first = queue.makeSpool(), second = queue.makeSpool()
            first.append("Subject: 1\r\n\r\none\r\n")
            second.append("Subject: 2\r\n\r\ntwo\r\n")
            let done = Mutex<[Int]>([])
            queue.commit(first, envelope: envelope(for: first)) { _ in done.withLock { $0.append(1) } }
            if delay > 0 {
                try await Task.sleep(for: .milliseconds(100)) // the first is waiting for the second meanwhile
                #expect(done.withLock { $0 }.isEmpty)
            } else {
                // No delay: the first is committed on its own, however slow the disk.
                while done.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(1)) }
            }
            try await queue.commit(second, envelope: envelope(for: second))
            while done.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(1)) }
            #expect(queue.stats.messages == 2)
            #expect(queue.stats.batches == (delay > 0 ? 1 : 2))
        }
    }

    /// Commits made while a third body is still arriving join one batch;
    /// the third's commit ends the wait for all of them.
    @Test func commitsJoinTheBatchUntilTheLastBodyArrives() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, commitDelay: 30)
        defer { queue.close() }
        let spools = (0..<3).map { _ in queue.makeSpool() }
        for (index, spool) in spools.enumerated() { spool.append("Subject: \(index)\r\n\r\nbody\r\n") }
        let done = Mutex(0)
        for spool in spools.prefix(2) {
            queue.commit(spool, envelope: envelope(for: spool)) { _ in done.withLock { $0 += 1 } }
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(done.withLock { $0 } == 0, "both wait for the third body")
        try await queue.commit(spools[2], envelope: envelope(for: spools[2]))
        while done.withLock({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(queue.stats.messages == 3 && queue.stats.batches == 1)
    }

    /// A body that never arrives holds a commit no longer than the delay.
    @Test func commitDelayIsBounded() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, commitDelay: 0.2)
        defer { queue.close() }
        let stalled = queue.makeSpool()
        stalled.append("Subject: slow\r\n")
        let spool = queue.makeSpool()
        spool.append("Subject: x\r\n\r\nx\r\n")
        let started = Date()
        try await queue.commit(spool, envelope: envelope(for: spool))
        // At least the delay; the sync after it may take seconds on a busy disk.
        let waited = Date().timeIntervalSince(started)
        #expect(waited >= 0.19 && waited < 60)
        // Refused (discarded) bodies no longer count as arriving.
        #expect(queue.arrivingBodies == 1)
        stalled.discard()
        #expect(queue.arrivingBodies == 0)
    }

    /// A body refused while a commit waits for it ends the wait at once.
    @Test func refusedBodyEndsTheCommitDelay() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, commitDelay: 120)
        defer { queue.close() }
        let refused = queue.makeSpool()
        refused.append("Subject: refused\r\n")
        let spool = queue.makeSpool()
        spool.append("Subject: x\r\n\r\nx\r\n")
        let started = Date()
        let done = Mutex(false)
        queue.commit(spool, envelope: envelope(for: spool)) { _ in done.withLock { $0 = true } }
        try await Task.sleep(for: .milliseconds(100))
        #expect(!done.withLock { $0 })
        refused.discard()
        while !done.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(Date().timeIntervalSince(started) < 60) // not the 120 s delay
    }

    /// A finished record is kept in spare/ and the next small message is
    /// written over it, cut to its own length; large records, and removals
    /// that are not the end of delivery, are unlinked.
    @Test func finishedRecordsAreReused() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        let spareDir = dir.path + "/spare"
        let big = queue.makeSpool()
        big.append("Subject: big\r\n\r\n" + String(repeating: "b", count: 5000) + "\r\n")
        try await queue.commit(big, envelope: envelope(for: big))
        var inode = stat()
        #expect(stat(dir.path + "/msg/\(big.id).msg", &inode) == 0)
        try queue.remove(big.id, sidecar: false, finished: true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: spareDir) == ["\(big.id)"])
        #expect(queue.spares.count == 1)

        // Not before msg/ has been fsync'd since the move: the next commit
        // makes a new file, and its directory fsync frees the spare.
        let filler = queue.makeSpool()
        filler.append("Subject: filler\r\n\r\nf\r\n")
        #expect(queue.spares.readyCount == 0)
        try await queue.commit(filler, envelope: envelope(for: filler))
        var fillerStatus = stat()
        #expect(stat(dir.path + "/msg/\(filler.id).msg", &fillerStatus) == 0)
        #expect(fillerStatus.st_ino != inode.st_ino)
        #expect(queue.spares.readyCount == 1)

        let small = queue.makeSpool()
        small.append("Subject: small\r\n\r\nhi\r\n")
        try await queue.commit(small, envelope: envelope(for: small))
        #expect(try FileManager.default.contentsOfDirectory(atPath: spareDir).isEmpty)
        var reused = stat()
        #expect(stat(dir.path + "/msg/\(small.id).msg", &reused) == 0)
        #expect(reused.st_ino == inode.st_ino) // the same file, overwritten
        let reader = QueueReader(directory: dir.path)
        #expect(try reader.body(id: small.id) == Array("Subject: small\r\n\r\nhi\r\n".utf8))
        #expect(try reader.envelope(id: small.id).id == small.id)
        #expect(Int(reused.st_size) < 1000) // nothing of the bigger record is left behind

        // Not the end of delivery (an operator's delete): unlinked.
        try queue.remove(small.id, sidecar: false)
        try queue.remove(filler.id, sidecar: false)
        #expect(try FileManager.default.contentsOfDirectory(atPath: spareDir).isEmpty)
        // Too large to keep.
        let huge = queue.makeSpool()
        huge.append("Subject: huge\r\n\r\n" + String(repeating: "h", count: SpareFiles.maxSize) + "\r\n")
        try await queue.commit(huge, envelope: envelope(for: huge))
        try queue.remove(huge.id, sidecar: false, finished: true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: spareDir).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/msg").isEmpty)
    }

    /// A spare no longer than the new record is written over without an
    /// ftruncate and ends exactly at the record's end; one whose length is
    /// unknown (left by an earlier run) is always cut.
    @Test func sparesAreCutOnlyWhenLonger() async throws {
        let dir = TemporaryDirectory()
        var queue: MailQueue? = try MailQueue(directory: dir.path)
        func commit(_ text: String) async throws -> (QueueID, stat) {
            let spool = queue!.makeSpool()
            spool.append(text)
            try await queue!.commit(spool, envelope: envelope(for: spool))
            var status = stat()
            #expect(stat(dir.path + "/msg/\(spool.id).msg", &status) == 0)
            #expect(try QueueReader(directory: dir.path).body(id: spool.id) == Array(text.utf8))
            return (spool.id, status)
        }
        let (small, smallFile) = try await commit("Subject: small\r\n\r\nhi\r\n")
        try queue!.remove(small, sidecar: false, finished: true)
        _ = try await commit("Subject: filler\r\n\r\nf\r\n") // promotes the spare
        let longer = "Subject: longer\r\n\r\n" + String(repeating: "l", count: 3000) + "\r\n"
        let (grown, grownFile) = try await commit(longer)
        #expect(grownFile.st_ino == smallFile.st_ino) // the spare, written over
        let record = try FileIO.readAll(dir.path + "/msg/\(grown).msg")
        #expect(Int(grownFile.st_size) == record.count && record.count > longer.utf8.count)

        // Kept across a restart: its length is not known, so it is cut.
        try queue!.remove(grown, sidecar: false, finished: true)
        queue!.close()
        queue = try MailQueue(directory: dir.path)
        defer { queue!.close() }
        _ = try await commit("Subject: filler 2\r\n\r\nf\r\n")
        let (_, shortFile) = try await commit("Subject: short\r\n\r\ns\r\n")
        #expect(shortFile.st_ino == grownFile.st_ino)
        #expect(Int(shortFile.st_size) < 1000)
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
        #expect(FileManager.default.fileExists(atPath: dir.path + "/incoming/\(spool.id).msg"))
        spool.discard()
        await withCheckedContinuation { done in spool.whenWritten { done.resume() } }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/incoming/\(spool.id).msg"))
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
        // Older layout: a torn envelope, an envelope with no body, an orphan
        // body; and junk in incoming/.
        _ = fm.createFile(atPath: dir.path + "/msg/0000000000000010.env", contents: Data("postern-envelope 1\nid 00".utf8))
        _ = fm.createFile(atPath: dir.path + "/msg/0000000000000010.eml", contents: Data("body".utf8))
        var bodiless = Envelope(id: QueueID(value: 0x20), sender: "", recipients: [.init(address: "x@y.example")],
                                size: 1, clientAddress: "127.0.0.1", clientHelo: nil, receivedProtocol: "ESMTP")
        bodiless.layout = .pair
        try Data(EnvelopeCodec.encode(bodiless)).write(to: URL(fileURLWithPath: dir.path + "/msg/0000000000000020.env"))
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
        #expect(Set(try fm.contentsOfDirectory(atPath: dir.path + "/msg")) == ["\(good).msg"])
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
        // The record is untouched; the change went to the sidecar.
        let record = queue.body(of: env).path
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: record))) == Array("Subject: x\r\n\r\nx\r\n".utf8)
                + MessageRecord.suffix(for: envelope(for: spool, created: env.created)))
        let sidecar = dir.path + "/msg/\(spool.id).env"
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: sidecar)), as: UTF8.self).hasPrefix("postern-envelope 4\n"))
        #expect(try QueueReader(directory: dir.path).body(id: spool.id) == Array("Subject: x\r\n\r\nx\r\n".utf8))
        try queue.remove(spool.id)
        #expect(try queue.envelopes().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/msg").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/incoming").isEmpty)
    }
}

@Suite("Queue layouts and removal")
struct QueueLayoutTests {
    /// A removed message is gone at once: not listed, not readable, no file.
    @Test func removalUnlinksTheRecord() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        let spool = queue.makeSpool()
        spool.append("Subject: x\r\n\r\nx\r\n")
        try await queue.commit(spool, envelope: envelope(for: spool))
        try queue.remove(spool.id, sidecar: false)
        #expect(throws: QueueIOError.self) { try queue.envelope(id: spool.id) }
        #expect(try queue.envelopes().isEmpty)
        queue.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/msg").isEmpty)
    }

    /// Both layouts side by side, and what a crash can leave of each.
    @Test func recoveryReadsBothLayouts() async throws {
        let dir = TemporaryDirectory()
        let fm = FileManager.default
        var ids: [QueueID] = []
        do {
            let queue = try MailQueue(directory: dir.path)
            for index in 0..<3 {
                let spool = queue.makeSpool()
                spool.append("Subject: \(index)\r\n\r\nbody\r\n")
                var env = envelope(for: spool)
                try await queue.commit(spool, envelope: env)
                if index == 1 {
                    env.state = .hold
                    try queue.update(env)
                }
                ids.append(spool.id)
            }
            queue.close()
        }
        let msg = dir.path + "/msg/"
        // ids[2]: its sidecar is unreadable: set aside with its record.
        _ = fm.createFile(atPath: msg + "\(ids[2]).env", contents: Data("postern-envelope 4\nid".utf8))
        // An older pair, readable.
        var old = Envelope(id: QueueID(value: 0x30), sender: "", recipients: [.init(address: "x@y.example")],
                           size: 4, clientAddress: "127.0.0.1", clientHelo: nil, receivedProtocol: "ESMTP")
        old.layout = .pair
        try Data(EnvelopeCodec.encode(old)).write(to: URL(fileURLWithPath: msg + "0000000000000030.env"))
        _ = fm.createFile(atPath: msg + "0000000000000030.eml", contents: Data("body".utf8))
        // A torn record (no trailer): corrupt, never sent.
        _ = fm.createFile(atPath: msg + "0000000000000040.msg", contents: Data("Subject: torn\r\n".utf8))
        // A removal stopped between its two unlinks: the lone sidecar goes.
        var gone = old
        gone.id = QueueID(value: 0x50)
        gone.layout = .record
        try Data(EnvelopeCodec.encode(gone)).write(to: URL(fileURLWithPath: msg + "0000000000000050.env"))

        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        #expect(queue.recovery.loaded == 3)
        #expect(Set(queue.recovery.corrupt) == ["\(ids[2])", "0000000000000040"])
        #expect(queue.recovery.orphanBodies == 1)
        #expect(Set(try fm.contentsOfDirectory(atPath: dir.path + "/corrupt")) ==
                ["\(ids[2]).msg", "\(ids[2]).env", "0000000000000040.msg"])
        let envelopes = try queue.envelopes()
        #expect(envelopes.map(\.id) == [QueueID(value: 0x30), ids[0], ids[1]].sorted())
        #expect(envelopes.first { $0.id == ids[1] }?.state == .hold)
        let pair = try queue.envelope(id: QueueID(value: 0x30))
        #expect(pair.layout == .pair && queue.body(of: pair) == QueuedBody(path: msg + "0000000000000030.eml"))
        #expect(try QueueReader(directory: dir.path).message(pair) == Array("body".utf8))
        try queue.remove(pair.id)
        #expect(Set(try fm.contentsOfDirectory(atPath: dir.path + "/msg")) == ["\(ids[0]).msg", "\(ids[1]).msg", "\(ids[1]).env"])
    }
}
