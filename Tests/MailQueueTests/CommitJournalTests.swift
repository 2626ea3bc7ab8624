import CPosternSys
import Foundation
import Testing
@testable import MailQueue

/// The commit journal: its format, and what a start after a crash makes of
/// it. A crash is a copy of the queue directory taken while the queue is
/// open (no checkpoint since), with the files a power loss could have lost
/// taken away or torn by hand.
@Suite("Commit journal")
struct CommitJournalTests {
    @Test func crc32cMatchesTheCastagnoliCheckValue() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { postern_crc32c(0, $0.baseAddress, $0.count) } == 0xE306_9283)
        // Continuing a CRC over parts equals one CRC of the whole, whatever
        // the split (the instruction path takes 8 octets at a time).
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = long.withUnsafeBytes { postern_crc32c(0, $0.baseAddress, $0.count) }
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = long.withUnsafeBytes { postern_crc32c(0, $0.baseAddress, split) }
            let both = long.withUnsafeBytes { postern_crc32c(first, $0.baseAddress! + split, 1000 - split) }
            #expect(both == whole)
        }
    }

    private func journal(generation: UInt64, _ records: [(CommitJournal.Kind, UInt64, [UInt8])], recordGeneration: UInt64? = nil) -> [UInt8] {
        var bytes = CommitJournal.header(generation: generation)
        bytes += [UInt8](repeating: 0, count: CommitJournal.headerSize - bytes.count)
        for (kind, id, payload) in records {
            payload.withUnsafeBytes { raw in
                bytes += CommitJournal.recordHeader(kind, id: QueueID(value: id), generation: recordGeneration ?? generation, payload: raw)
            }
            bytes += payload
        }
        return bytes
    }

    @Test func recordsReadBackUntilTheFirstThatIsNotWhole() throws {
        let payload = Array("Subject: x\r\n\r\nbody\r\n".utf8)
        let bytes = journal(generation: 5, [(.commit, 1, payload), (.removal, 1, []), (.commit, 2, payload)])
        let parsed = try #require(bytes.withUnsafeBytes { CommitJournal.parse($0) })
        #expect(parsed.generation == 5)
        #expect(parsed.records.map(\.kind) == [.commit, .removal, .commit])
        #expect(parsed.records.map(\.id.value) == [1, 1, 2])
        #expect(Array(bytes[parsed.records[2].payload]) == payload)
        // Torn anywhere in the last record: the two before it only.
        for cut in [bytes.count - 1, bytes.count - payload.count, bytes.count - payload.count - 5] {
            let torn = Array(bytes[0..<cut])
            #expect(torn.withUnsafeBytes { CommitJournal.parse($0) }?.records.count == 2)
        }
        // A changed octet in a payload stops the scan there.
        var flipped = bytes
        flipped[parsed.records[2].payload.lowerBound + 3] ^= 0x20
        #expect(flipped.withUnsafeBytes { CommitJournal.parse($0) }?.records.count == 2)
        // Records of another generation are not this one's.
        let stale = journal(generation: 5, [(.commit, 1, payload)], recordGeneration: 4)
        #expect(stale.withUnsafeBytes { CommitJournal.parse($0) }?.records.isEmpty == true)
        // No valid header: nothing.
        var badHeader = bytes
        badHeader[17] ^= 1
        #expect(badHeader.withUnsafeBytes { CommitJournal.parse($0) } == nil)
    }

    /// The replay reads the file a window at a time: every window size,
    /// including ones that cut headers and payloads and ones smaller than a
    /// record, finds the records the walk over the whole file finds, and
    /// stops at the same torn, flipped or impossibly long record.
    @Test func aWindowedWalkFindsWhatTheWholeWalkFinds() throws {
        let payloads = [300, 0, 5000, 17, 1, 4096].map { length in (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ length) } }
        let records = payloads.enumerated().map { (CommitJournal.Kind.commit, UInt64($0.offset + 1), $0.element) }
            + [(.removal, 3, [])]
        let whole = journal(generation: 9, records)
        var variants = [whole, Array(whole.dropLast(1)), Array(whole.dropLast(2000))]
        var flipped = whole
        flipped[whole.count - 40] ^= 1 // inside the last payload
        variants.append(flipped)
        var huge = whole
        let last = CommitJournal.headerSize + payloads.reduce(0) { $0 + CommitJournal.recordHeaderSize + $1.count }
        huge.replaceSubrange((last + 24)..<(last + 28), with: [0xFF, 0xFF, 0xFF, 0x7F]) // a length past the end
        variants.append(huge)
        for bytes in variants {
            let expected = try #require(bytes.withUnsafeBytes { CommitJournal.parse($0) }).records
            var reads = 0
            for window in [32, 33, 64, 1000, 4096, 5031, 1 << 20] {
                let windowed = try CommitJournal.records(fileSize: bytes.count, generation: 9, window: window) { offset, count in
                    reads += 1
                    return Array(bytes[offset..<min(offset + count, bytes.count)])
                }
                #expect(windowed == expected, "window \(window)")
            }
            #expect(reads > 7) // small windows took several reads
        }
        #expect(try CommitJournal.records(fileSize: whole.count, generation: 9, window: 64) { offset, count in
            Array(whole[offset..<min(offset + count, whole.count)])
        }.count == 7)
    }

    /// The fuzz seeds are written by fuzz/seeds.py with its own CRC-32C:
    /// they parse as it meant them to.
    @Test func seedsWrittenByPythonParse() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../fuzz/journal").standardized.path
        let expected = ["seed-journal-00.bin": 0, "seed-journal-01.bin": 1, "seed-journal-02.bin": 3,
                        "seed-journal-03.bin": 1, "seed-journal-04.bin": 1, "seed-journal-05.bin": 2]
        for (name, count) in expected {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
            #expect(bytes.withUnsafeBytes { CommitJournal.parse($0) }?.records.count == count, "\(name)")
        }
    }

    private func commit(_ queue: MailQueue, _ text: String) async throws -> QueueID {
        let spool = queue.makeSpool()
        spool.append(text)
        try await queue.commit(spool, envelope: envelope(for: spool))
        return spool.id
    }

    /// A copy of the queue as a crash would leave it: the files as they
    /// are, no checkpoint, the journal as synced.
    private func crashCopy(of dir: TemporaryDirectory) throws -> TemporaryDirectory {
        let copy = TemporaryDirectory()
        try FileManager.default.removeItem(atPath: copy.path)
        try FileManager.default.copyItem(atPath: dir.path, toPath: copy.path)
        return copy
    }

    @Test func replayWritesBackRecordsACrashLostAndKeepsRemovalsRemoved() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        var ids: [QueueID] = []
        for index in 0..<6 { ids.append(try await commit(queue, "Subject: \(index)\r\n\r\nbody \(index)\r\n")) }
        #expect(queue.stats.syncCalls == queue.stats.batches) // one fdatasync a batch
        try queue.remove(ids[3], sidecar: false, finished: true) // delivered: noted, rides on the next batch
        try queue.remove(ids[4]) // an operator's delete: synced at once
        ids.append(try await commit(queue, "Subject: 6\r\n\r\nbody 6\r\n"))
        try queue.remove(ids[5], sidecar: false, finished: true) // noted, never synced: may come back

        let crashed = try crashCopy(of: dir)
        let msg = crashed.path + "/msg/"
        try FileManager.default.removeItem(atPath: msg + "\(ids[0]).msg") // its rename never reached the disk
        try Data("Subject: 1\r\n\r\nbo".utf8).write(to: URL(fileURLWithPath: msg + "\(ids[1]).msg")) // torn
        // A removal the directory kept but the journal did not: back it comes
        // (delivered again, never lost); the operator's delete stays.
        #expect(!FileManager.default.fileExists(atPath: msg + "\(ids[4]).msg"))

        let reopened = try MailQueue(directory: crashed.path)
        defer { reopened.close() }
        #expect(reopened.recovery.corrupt.isEmpty)
        #expect(reopened.recovery.journalRestored == 5) // 0, 1, 2, 5, 6
        let reader = QueueReader(directory: crashed.path)
        let listed = try reader.messageIDs()
        #expect(listed == [ids[0], ids[1], ids[2], ids[5], ids[6]])
        for index in [0, 1, 2, 5, 6] {
            #expect(try reader.body(id: ids[index]) == Array("Subject: \(index)\r\n\r\nbody \(index)\r\n".utf8))
        }
        // The replay is durable and done: a second crash straight after
        // replays nothing and finds the same messages.
        let again = try crashCopy(of: crashed)
        let third = try MailQueue(directory: again.path)
        defer { third.close() }
        #expect(third.recovery.journalRestored == 0 && third.recovery.loaded == 5)
    }

    /// Many commits at once, bodies of different lengths, so batches hold
    /// several records (headers and suffixes from one buffer, bodies from
    /// their own, in one pwritev): every record replays whole.
    @Test func concurrentCommitsReplayEachRecordWhole() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        let texts = (0..<40).map { "Subject: \($0)\r\n\r\n" + String(repeating: "line \($0)\r\n", count: 1 + $0 * 37) }
        let ids = try await withThrowingTaskGroup(of: (Int, QueueID).self) { group in
            for (index, text) in texts.enumerated() {
                group.addTask { (index, try await commit(queue, text)) }
            }
            var ids = [QueueID?](repeating: nil, count: texts.count)
            for try await (index, id) in group { ids[index] = id }
            return ids.compactMap { $0 }
        }
        let crashed = try crashCopy(of: dir)
        for id in ids { try FileManager.default.removeItem(atPath: crashed.path + "/msg/\(id).msg") }
        let reopened = try MailQueue(directory: crashed.path)
        defer { reopened.close() }
        #expect(reopened.recovery.journalRestored == texts.count)
        let reader = QueueReader(directory: crashed.path)
        for (index, id) in ids.enumerated() { #expect(try reader.body(id: id) == Array(texts[index].utf8)) }
    }

    /// The vectored positional write: more parts than one pwritev takes,
    /// empty ones among them, all in order at the offset.
    @Test func vectoredWriteKeepsEveryPartInOrder() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/parts"
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        let chunks = (0..<3000).map { [UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: $0 % 5) }
        let whole = chunks.flatMap { $0 }
        try whole.withUnsafeBytes { raw in
            var parts: [UnsafeRawBufferPointer] = []
            var start = 0
            for chunk in chunks {
                parts.append(UnsafeRawBufferPointer(rebasing: raw[start..<(start + chunk.count)]))
                start += chunk.count
            }
            try FileIO.writeAll(fd, parts, at: 100, path: path)
        }
        let back = try FileIO.readAll(path)
        #expect(back.count == 100 + whole.count)
        #expect(Array(back[..<100]) == [UInt8](repeating: 0, count: 100))
        #expect(Array(back[100...]) == whole)
    }

    /// A removal record wins over the file it names, whatever a crash left:
    /// an operator's delete whose unlink was lost, and a delivered record
    /// reused as a spare whose move out of msg/ was lost (its old name would
    /// otherwise show the new message's octets). Both are in the same
    /// generation as their commits here.
    @Test func removalsWinOverFilesACrashBroughtBack() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        let deleted = try await commit(queue, "Subject: deleted\r\n\r\nx\r\n")
        let delivered = try await commit(queue, "Subject: delivered\r\n\r\ny\r\n")
        let msg = dir.path + "/msg/"
        let deletedBytes = try Data(contentsOf: URL(fileURLWithPath: msg + "\(deleted).msg"))
        try queue.remove(deleted) // an operator's delete
        try queue.remove(delivered, sidecar: false, finished: true) // kept as a spare
        _ = try await commit(queue, "Subject: next\r\n\r\nz\r\n") // takes the removal, promotes the spare
        #expect(queue.spares.readyCount == 1)
        let reuser = try await commit(queue, "Subject: reuses the spare\r\n\r\nw\r\n")
        #expect(queue.spares.readyCount == 0)

        let crashed = try crashCopy(of: dir)
        let crashedMsg = crashed.path + "/msg/"
        try deletedBytes.write(to: URL(fileURLWithPath: crashedMsg + "\(deleted).msg"))
        try FileManager.default.copyItem(atPath: crashedMsg + "\(reuser).msg", toPath: crashedMsg + "\(delivered).msg")
        let reopened = try MailQueue(directory: crashed.path)
        defer { reopened.close() }
        let listed = try QueueReader(directory: crashed.path).messageIDs()
        #expect(!listed.contains(deleted) && !listed.contains(delivered))
        #expect(listed.contains(reuser) && reopened.recovery.corrupt.isEmpty)
    }

    /// On a queue that takes no new mail, a delivered message's removal is
    /// still written within about a second, not left for the next batch.
    @Test func removalsAreWrittenWhenNoBatchComes() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        let id = try await commit(queue, "Subject: a\r\n\r\nb\r\n")
        let path = dir.path + "/msg/\(id).msg"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let syncs = queue.stats.syncCalls
        try queue.remove(id, sidecar: false, finished: true)
        try await Task.sleep(for: .milliseconds(2500))
        let crashed = try crashCopy(of: dir)
        try bytes.write(to: URL(fileURLWithPath: crashed.path + "/msg/\(id).msg")) // the unlink lost
        let reopened = try MailQueue(directory: crashed.path)
        defer { reopened.close() }
        #expect(try QueueReader(directory: crashed.path).messageIDs().isEmpty)
        #expect(queue.stats.syncCalls == syncs) // not a batch: the committer's own write
    }

    /// A queue that took one message and was closed cleanly.
    private func queueClosedWithOneMessage() async throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        _ = try await commit(queue, "Subject: a\r\n\r\nb\r\n")
        queue.close()
        return dir
    }

    @Test func aCleanCloseLeavesNothingToReplay() async throws {
        let dir = try await queueClosedWithOneMessage()
        let reopened = try MailQueue(directory: dir.path)
        defer { reopened.close() }
        #expect(reopened.recovery.journalRestored == 0 && reopened.recovery.loaded == 1)
    }

    /// A full journal checkpoints (syncfs, directory fsync, new generation)
    /// and goes on; a crash then replays only what came after.
    @Test func aFullJournalCheckpointsAndGoesOn() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path) // the smallest journal, 1 MiB
        defer { queue.close() }
        let line = String(repeating: "x", count: 78) + "\r\n"
        let body = "Subject: big\r\n\r\n" + String(repeating: line, count: 250) // ~20 KiB
        var ids: [QueueID] = []
        for _ in 0..<60 { ids.append(try await commit(queue, body)) } // ~1.2 MiB
        let journal = try #require(queue.committer.journal)
        #expect(journal.checkpoints >= 1)
        let crashed = try crashCopy(of: dir)
        for id in ids { try FileManager.default.removeItem(atPath: crashed.path + "/msg/\(id).msg") }
        let reopened = try MailQueue(directory: crashed.path)
        defer { reopened.close() }
        // Files gone from before the checkpoint stay gone (in a real crash
        // the checkpoint had made them durable); those after come back.
        #expect(reopened.recovery.journalRestored > 0 && reopened.recovery.journalRestored < 60)
        let back = try QueueReader(directory: crashed.path).messageIDs()
        #expect(back == Array(ids.suffix(back.count)))
        #expect(try QueueReader(directory: crashed.path).body(id: back[0]) == Array(body.utf8))
    }

    /// Large bodies (past the spool's memory) take the classic commit,
    /// syncfs and directory fsync, journal on or not.
    @Test func aBodyOnDiskTakesTheClassicCommit() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, spoolMemoryLimit: 1024)
        defer { queue.close() }
        _ = try await commit(queue, "Subject: x\r\n\r\n" + String(repeating: "y", count: 4000) + "\r\n")
        #expect(queue.stats.syncCalls == 2)
        _ = try await commit(queue, "Subject: small\r\n\r\nz\r\n")
        #expect(queue.stats.syncCalls == 3)
    }

    /// A batch of more than `batchLimit` octets, in memory or not, takes
    /// the classic commit too: there the journal's second copy costs more
    /// than its shorter sync saves.
    @Test func aLargeBatchTakesTheClassicCommit() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path, spoolMemoryLimit: 4 << 20)
        defer { queue.close() }
        let spool = queue.makeSpool()
        spool.append("Subject: x\r\n\r\n" + String(repeating: String(repeating: "y", count: 98) + "\r\n", count: 6000))
        #expect(spool.isInMemory && spool.size > CommitJournal.batchLimit)
        try await queue.commit(spool, envelope: envelope(for: spool))
        #expect(queue.stats.syncCalls == 2) // syncfs and directory fsync
        _ = try await commit(queue, "Subject: small\r\n\r\nz\r\n")
        #expect(queue.stats.syncCalls == 3)
    }

    /// Turned off after a crash: the journal is replayed once, then removed.
    @Test func turningTheJournalOffReplaysItFirst() async throws {
        let dir = TemporaryDirectory()
        let queue = try MailQueue(directory: dir.path)
        defer { queue.close() }
        let id = try await commit(queue, "Subject: a\r\n\r\nb\r\n")
        let crashed = try crashCopy(of: dir)
        try FileManager.default.removeItem(atPath: crashed.path + "/msg/\(id).msg")
        let reopened = try MailQueue(directory: crashed.path, journalSize: 0)
        defer { reopened.close() }
        #expect(reopened.recovery.journalRestored == 1)
        #expect(try QueueReader(directory: crashed.path).messageIDs() == [id])
        #expect(!FileManager.default.fileExists(atPath: crashed.path + "/journal"))
        _ = try await commit(reopened, "Subject: c\r\n\r\nd\r\n")
        #expect(reopened.stats.syncCalls == 2) // syncfs and directory fsync
    }

    /// A journal whose header a crash tore is not read, and is laid out
    /// anew (cleared, so no old record can follow the new ones).
    @Test func aTornHeaderReplaysNothingAndIsCleared() async throws {
        let dir = try await queueClosedWithOneMessage()
        let path = dir.path + "/journal"
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 4)
        try handle.write(contentsOf: Data([0xFF]))
        try handle.seek(toOffset: 8192)
        try handle.write(contentsOf: Data("leftover".utf8))
        try handle.close()
        let reopened = try MailQueue(directory: dir.path)
        defer { reopened.close() }
        #expect(reopened.recovery.journalRestored == 0 && reopened.recovery.loaded == 1)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.count == MailQueue.minimumJournalSize)
        #expect(bytes[8192..<8200].allSatisfy { $0 == 0 })
    }
}
