import CClamAV
import Foundation
import Synchronization
import Testing
@testable import Scanning

/// libclamav in process, with the test signature in tests/fixtures/clamav.
@Suite struct ClamAVScannerTests {
    static let engine = ClamAVEngine(database: ClamAVFixtures.database)

    func scanner(threads: Int = 2) async throws -> ClamAVScanner {
        let loaded = await Self.engine.loadIfNeeded()
        #expect((try? loaded.get())?.signatures == 1)
        return ClamAVScanner(engine: Self.engine, threads: threads, timeout: 30)
    }

    func scan(_ bytes: [UInt8], prefix: [UInt8] = []) async throws -> ScanVerdict {
        try await scanner().scan(ScanRequest(message: MessageSource(bytes: bytes, prefix: prefix)))
    }

    @Test func attachment() async throws {
        let verdict = try await scan(ClamAVFixtures.message(attaching: ClamAVFixtures.eicar))
        #expect(verdict == .infected(name: ClamAVFixtures.detection))
    }

    @Test func zipInAttachment() async throws {
        let zip = try ClamAVFixtures.zip(name: "eicar.com", contents: ClamAVFixtures.eicar)
        #expect(!zip.isEmpty && zip.firstRange(of: ClamAVFixtures.eicar) == nil)
        let verdict = try await scan(ClamAVFixtures.message(attaching: zip, name: "files.zip", type: "application/zip"))
        #expect(verdict == .infected(name: ClamAVFixtures.detection))
    }

    @Test func forwardedMessage() async throws {
        let inner = ClamAVFixtures.message(attaching: ClamAVFixtures.eicar)
        let verdict = try await scan(ClamAVFixtures.forwarding(inner))
        #expect(verdict == .infected(name: ClamAVFixtures.detection))
    }

    @Test func clean() async throws {
        #expect(try await scan(ClamAVFixtures.plain("Nothing to see here.")) == .clean)
        let pdfLike = Array("%PDF-1.4 harmless".utf8)
        #expect(try await scan(ClamAVFixtures.message(attaching: pdfLike, name: "a.pdf")) == .clean)
        #expect(try await scan([]) == .clean)
    }

    /// The prefix (header fields added after spooling) is part of what is scanned.
    @Test func prefixIsScanned() async throws {
        let header = Array("X-Test: ".utf8) + ClamAVFixtures.eicar + Array("\r\n".utf8)
        let body = ClamAVFixtures.plain("clean body")
        #expect(try await scan(body, prefix: header) == .infected(name: ClamAVFixtures.detection))
        #expect(try await scan(body, prefix: Array("X-Test: fine\r\n".utf8)) == .clean)
    }

    /// A spool file is read from its offset, after the prefix; bytes before
    /// the offset (the queue file's envelope) are not part of the message.
    @Test func spoolFileFromOffset() async throws {
        let directory = try ClamAVFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let envelope = Array("ENVELOPE ".utf8) + ClamAVFixtures.eicar + Array("\n".utf8)
        let clean = ClamAVFixtures.plain("clean body")
        let infected = ClamAVFixtures.message(attaching: ClamAVFixtures.eicar)
        let scanner = try await scanner()
        for (body, expected) in [(clean, ScanVerdict.clean), (infected, .infected(name: ClamAVFixtures.detection))] {
            let path = directory + "/spool"
            try Data(envelope + body).write(to: URL(fileURLWithPath: path))
            let message = MessageSource(path: path, offset: envelope.count, size: envelope.count + body.count,
                                        prefix: Array("Received: from x\r\n".utf8))
            #expect(await scanner.scan(ScanRequest(message: message)) == expected)
        }
        let header = Array("X-Test: ".utf8) + ClamAVFixtures.eicar + Array("\r\n".utf8)
        let message = MessageSource(path: directory + "/spool", offset: envelope.count,
                                    size: envelope.count + infected.count, prefix: header)
        #expect(await scanner.scan(ScanRequest(message: message)) == .infected(name: ClamAVFixtures.detection))
        let missing = MessageSource(path: directory + "/nothing", size: 10)
        guard case .error = await scanner.scan(ScanRequest(message: missing)) else { Issue.record("no error"); return }
    }

    /// Larger than a pread callback's first page, with the virus at the end.
    @Test func largeSpoolFile() async throws {
        let directory = try ClamAVFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let filler = [UInt8](repeating: UInt8(ascii: "a"), count: 3 << 20)
        let body = ClamAVFixtures.message(attaching: filler + ClamAVFixtures.eicar, text: "big")
        let path = directory + "/spool"
        try Data(body).write(to: URL(fileURLWithPath: path))
        let message = MessageSource(path: path, size: body.count, prefix: Array("X-A: b\r\n".utf8))
        #expect(try await scanner().scan(ScanRequest(message: message)) == .infected(name: ClamAVFixtures.detection))
    }

    @Test func maxSize() async throws {
        let small = ClamAVEngine(database: ClamAVFixtures.database, maxSize: 100)
        #expect(await small.loadIfNeeded().map(\.signatures) == .success(1))
        let scanner = ClamAVScanner(engine: small, threads: 1, timeout: 30)
        let verdict = await scanner.scan(ScanRequest(message: MessageSource(bytes: ClamAVFixtures.plain(String(repeating: "x", count: 200)))))
        #expect(verdict == .tooLarge("262 octets, max_size is 100"))
    }

    @Test func pingAndUnloaded() async throws {
        let unloaded = ClamAVScanner(engine: ClamAVEngine(database: ClamAVFixtures.database), threads: 1)
        #expect(await unloaded.ping() == false)
        guard case .error(let why) = await unloaded.scan(ScanRequest(message: MessageSource(bytes: [1, 2, 3]))) else {
            Issue.record("scanned without an engine"); return
        }
        #expect(why.hasPrefix("no ClamAV engine loaded"))
        #expect(try await scanner().ping())
        #expect(try await scanner().kind == "clamav")
    }

    @Test func emptyDatabaseFails() async throws {
        let directory = try ClamAVFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = ClamAVEngine(database: directory)
        guard case .failure(let error) = await engine.loadIfNeeded() else { Issue.record("loaded"); return }
        #expect(error.description.contains("No supported database files"))
        #expect(engine.lastError == error && engine.info == nil)
    }

    @Test(arguments: [
        (CL_CLEAN, nil, ScanVerdict.clean),
        (CL_VIRUS, "Test.EICAR.NDB.UNOFFICIAL", .infected(name: "Test.EICAR.NDB.UNOFFICIAL")),
        (CL_VIRUS, nil, .error("libclamav found a virus without a name")),
        (CL_VIRUS, "Heuristics.Limits.Exceeded.MaxFileSize", .infected(name: "Heuristics.Limits.Exceeded.MaxFileSize")),
        (CL_VIRUS, "Heuristics.Limits.Exceeded.MaxScanTime", .error("libclamav: Heuristics.Limits.Exceeded.MaxScanTime")),
        (CL_EMAXSIZE, nil, .infected(name: "Heuristics.Limits.Exceeded (Exceeded max scan size)")),
        (CL_EMAXFILES, nil, .infected(name: "Heuristics.Limits.Exceeded (Exceeded max scan files)")),
        (CL_EMEM, nil, .error("libclamav: Can't allocate memory")),
    ] as [(cl_error_t, String?, ScanVerdict)])
    func verdicts(code: cl_error_t, name: String?, expected: ScanVerdict) {
        #expect(ClamAVScanner.verdict(code: code, name: name) == expected)
    }
}

/// Reloading: a new engine beside the old one, swapped in; a failed reload
/// keeps the old one.
@Suite struct ClamAVReloadTests {
    static let second = "POSTERN-SECOND-TEST-SIGNATURE-7f3a"

    func verdict(_ scanner: ClamAVScanner, _ text: String) async -> ScanVerdict {
        await scanner.scan(ScanRequest(message: MessageSource(bytes: ClamAVFixtures.plain(text))))
    }

    @Test func reloadSwapsAndKeepsOldOnFailure() async throws {
        let directory = try ClamAVFixtures.databaseCopy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Explicit reloads only: a scan's background check (due after
        // checkInterval) would reload once more on a slow run and count a
        // third generation.
        let engine = ClamAVEngine(database: directory, checkInterval: .seconds(3600))
        let scanner = ClamAVScanner(engine: engine, threads: 1, timeout: 30)
        #expect(await engine.loadIfNeeded().map(\.generation) == .success(1))
        #expect(await verdict(scanner, Self.second) == .clean)
        #expect(await engine.reloadIfChanged() == nil)
        let old = try #require(engine.current)

        try ClamAVFixtures.signature(named: "Test.Second.NDB", for: Self.second)
            .write(toFile: directory + "/second.ndb", atomically: true, encoding: .utf8)
        let reloaded = try #require(await engine.reloadIfChanged())
        #expect(reloaded.map(\.generation) == .success(2) && reloaded.map(\.signatures) == .success(2))
        #expect(await verdict(scanner, Self.second) == .infected(name: "Test.Second.NDB.UNOFFICIAL"))
        // A scan that took the old engine before the swap finishes on it.
        let message = MessageSource(bytes: ClamAVFixtures.plain(Self.second))
        #expect(ClamAVScanner.scan(message, with: old) == .clean)

        try "this is not a signature\n".write(toFile: directory + "/broken.ndb", atomically: true, encoding: .utf8)
        guard case .failure(let error) = await engine.reload() else { Issue.record("broken database loaded"); return }
        #expect(error.description.contains("Malformed database") && error.description.contains("broken.ndb"))
        #expect(engine.lastError == error && engine.info?.generation == 2)
        #expect(await verdict(scanner, Self.second) == .infected(name: "Test.Second.NDB.UNOFFICIAL"))
        let eicar = MessageSource(bytes: ClamAVFixtures.message(attaching: ClamAVFixtures.eicar))
        #expect(await scanner.scan(ScanRequest(message: eicar)) == .infected(name: ClamAVFixtures.detection))
        // Unchanged since the failed attempt: not retried.
        #expect(await engine.reloadIfChanged() == nil)
    }

    /// A scan notices the changed directory and reloads in the background.
    @Test func scanTriggersReload() async throws {
        let directory = try ClamAVFixtures.databaseCopy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = ClamAVEngine(database: directory, checkInterval: .zero)
        let scanner = ClamAVScanner(engine: engine, threads: 1, timeout: 30)
        _ = await engine.loadIfNeeded()
        try ClamAVFixtures.signature(named: "Test.Second.NDB", for: Self.second)
            .write(toFile: directory + "/second.ndb", atomically: true, encoding: .utf8)
        let deadline = ContinuousClock.now + .seconds(10)
        while engine.info?.generation != 2 && ContinuousClock.now < deadline {
            _ = await verdict(scanner, "poke")
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(engine.info?.generation == 2)
        #expect(await verdict(scanner, Self.second) == .infected(name: "Test.Second.NDB.UNOFFICIAL"))
    }

    @Test func sharedRegistry() async throws {
        let directory = try ClamAVFixtures.databaseCopy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = ClamAVEngine.shared(database: directory)
        #expect(ClamAVEngine.shared(database: directory + "/") === engine)
        #expect(ClamAVEngine.shared(database: directory + "/./") === engine)
        #expect(ClamAVEngine.shared(database: directory, maxSize: 1000) !== engine)
        _ = await engine.loadIfNeeded()
        let results = await ClamAVEngine.reloadAll()
        let mine = try #require(results.first { $0.database == directory })
        #expect(mine.result.map(\.generation) == .success(2))
    }
}

/// The scan pool: bounded, and a caller is answered at its timeout.
@Suite struct ClamAVScanPoolTests {
    @Test func concurrentScansAreBounded() async throws {
        let loaded = await ClamAVScannerTests.engine.loadIfNeeded()
        #expect((try? loaded.get()) != nil)
        let scanner = ClamAVScanner(engine: ClamAVScannerTests.engine, threads: 2, timeout: 60)
        let filler = [UInt8](repeating: UInt8(ascii: "b"), count: 256 << 10)
        let message = MessageSource(bytes: ClamAVFixtures.message(attaching: filler + ClamAVFixtures.eicar))
        let verdicts = await withTaskGroup(of: ScanVerdict.self) { group in
            for _ in 0..<12 { group.addTask { await scanner.scan(ScanRequest(message: message)) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(verdicts.count == 12 && verdicts.allSatisfy { $0 == .infected(name: ClamAVFixtures.detection) })
        #expect(scanner.pool.peak >= 1 && scanner.pool.peak <= 2)
    }

    @Test func poolBoundsJobs() async {
        let pool = ClamAVScanPool(threads: 2)
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<6 { group.addTask { _ = await pool.run(timeout: 30) { usleep(50_000); return .clean } } }
        }
        #expect(pool.peak == 2)
        #expect(ContinuousClock.now - start >= .milliseconds(140))
    }

    @Test func timeoutAnswersAndSkipsQueuedJob() async {
        let pool = ClamAVScanPool(threads: 1)
        let ran = Flag(), started = Flag(), finished = Flag()
        async let slow = pool.run(timeout: 0.2) { started.set(); usleep(3_000_000); finished.set(); return .clean }
        while !started.value { try? await Task.sleep(for: .milliseconds(5)) }
        async let queued = pool.run(timeout: 0.1) { ran.set(); return .clean }
        let (first, second) = await (slow, queued)
        #expect(first == .error("timeout after 0.2 s") && second == .error("timeout after 0.1 s"))
        // Answered while the job still ran (not a wall-clock bound: the machine may be busy).
        #expect(!finished.value)
        // The running job goes on; the queued one is skipped once a thread frees.
        _ = await pool.run(timeout: 10) { .clean }
        #expect(!ran.value)
    }
}

private final class Flag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var value: Bool { state.withLock { $0 } }
}
