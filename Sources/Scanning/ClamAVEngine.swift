import Foundation
import Logging
import Synchronization

/// The signatures of one ClamAV database directory, compiled into a libclamav
/// engine. Loads run on a thread of their own; a reload compiles a new engine
/// beside the old one and swaps it in, so scans never wait for a load and
/// scans in flight finish on the engine they started with. A failed reload
/// keeps the old engine. Policies naming the same directory share one engine
/// (`shared(database:maxSize:)`).
public final class ClamAVEngine: Sendable {
    /// The database directory as configured (cl_load reads every database file in it).
    public let database: String
    /// Messages larger than this are not scanned (`ScanVerdict.tooLarge`); it
    /// also sets libclamav's MaxFileSize and MaxScanSize. nil: libclamav's limits.
    public let maxSize: Int?
    /// How often a scan may look at the directory for changed files.
    public let checkInterval: Duration
    let logger: Logger

    private struct State {
        var current: LoadedEngine?
        var info: ClamAVEngineInfo?
        var lastError: ClamAVError?
        /// The directory as the last load attempt saw it, failed or not: a broken
        /// file is not retried every few seconds, only after it changes.
        var fingerprint: DatabaseFingerprint?
        var nextCheck: ContinuousClock.Instant
        var checking = false
        /// The newest load; the next one waits for it, so loads run one at a time.
        var pending: Task<Result<ClamAVEngineInfo, ClamAVError>, Never>?
        var generation = 0
    }

    private let state: Mutex<State>

    public init(database: String, maxSize: Int? = nil, checkInterval: Duration = .seconds(5),
                logger: Logger = Logger(label: "postern.clamav")) {
        self.database = database
        self.maxSize = maxSize
        self.checkInterval = checkInterval
        self.logger = logger
        state = Mutex(State(nextCheck: .now + checkInterval))
    }

    /// The compiled engine scans use now; nil until the first load succeeds.
    var current: LoadedEngine? { state.withLock { $0.current } }

    /// The engine in use, if one is loaded.
    public var info: ClamAVEngineInfo? { state.withLock { $0.info } }

    /// Why the last load failed, if it did (the previous engine, if any, is still in use).
    public var lastError: ClamAVError? { state.withLock { $0.lastError } }

    /// Loads the engine unless one is loaded or loading; the daemon awaits this
    /// at start so a broken database is reported before mail is accepted.
    @discardableResult
    public func loadIfNeeded() async -> Result<ClamAVEngineInfo, ClamAVError> {
        let (info, pending) = state.withLock { ($0.info, $0.pending) }
        if let info { return .success(info) }
        if let pending { return await pending.value }
        return await reload()
    }

    /// Compiles a new engine from the directory and swaps it in (SIGHUP).
    /// On failure the old engine stays in use.
    @discardableResult
    public func reload() async -> Result<ClamAVEngineInfo, ClamAVError> {
        let task = state.withLock { state in
            let previous = state.pending
            let task = Task.detached { [self] in
                _ = await previous?.value
                return await self.loadOnOwnThread()
            }
            state.pending = task
            return task
        }
        return await task.value
    }

    /// Reloads if a file in the directory was added, removed or changed since
    /// the last load; nil when nothing changed.
    public func reloadIfChanged() async -> Result<ClamAVEngineInfo, ClamAVError>? {
        let now = DatabaseFingerprint(directory: database)
        guard state.withLock({ $0.fingerprint != now }) else { return nil }
        return await reload()
    }

    /// Called by each scan: at most every `checkInterval`, looks for changed
    /// files in the background and reloads. The scan itself never waits.
    func checkForChangesIfDue() {
        let now = ContinuousClock.now
        let due = state.withLock { state in
            guard state.info != nil || state.lastError != nil, !state.checking, now >= state.nextCheck else { return false }
            state.checking = true
            state.nextCheck = now + checkInterval
            return true
        }
        guard due else { return }
        Task.detached { [self] in
            let result = await reloadIfChanged()
            state.withLock { $0.checking = false }
            if let result { log(result, reason: "database changed") }
        }
    }

    func log(_ result: Result<ClamAVEngineInfo, ClamAVError>, reason: String) {
        switch result {
        case .success(let info):
            logger.info("clamav engine loaded", metadata: [
                "database": "\(database)", "signatures": "\(info.signatures)", "generation": "\(info.generation)",
                "seconds": "\(String(format: "%.3f", info.loadSeconds))",
                "reason": "\(reason)",
            ])
        case .failure(let error):
            logger.error("clamav reload failed, keeping the previous engine", metadata: [
                "database": "\(database)", "error": "\(error)", "reason": "\(reason)",
            ])
        }
    }

    /// One load on a new thread: a large database takes seconds of CPU, which
    /// must not hold an event loop or a cooperative-pool thread.
    private func loadOnOwnThread() async -> Result<ClamAVEngineInfo, ClamAVError> {
        await withCheckedContinuation { continuation in
            let thread = Thread { [self] in continuation.resume(returning: loadAndSwap()) }
            thread.name = "clamav-load"
            thread.start()
        }
    }

    private func loadAndSwap() -> Result<ClamAVEngineInfo, ClamAVError> {
        let fingerprint = DatabaseFingerprint(directory: database)
        let start = ContinuousClock.now
        let compiled = ClamAVLibrary.compile(directory: database, maxSize: maxSize)
        let elapsed = ContinuousClock.now - start
        // The replaced engine comes back out of the lock and is freed here, unless scans still hold it.
        let (result, _): (Result<ClamAVEngineInfo, ClamAVError>, LoadedEngine?) = state.withLock { state in
            state.fingerprint = fingerprint
            switch compiled {
            case .success(let engine):
                state.generation += 1
                let info = ClamAVEngineInfo(database: database, signatures: engine.signatures,
                                            generation: state.generation, loadSeconds: elapsed.seconds)
                let previous = state.current
                state.current = engine
                state.info = info
                state.lastError = nil
                return (.success(info), previous)
            case .failure(let error):
                state.lastError = error
                return (.failure(error), nil)
            }
        }
        return result
    }
}

/// What a load produced, for logs and `postern` status output.
public struct ClamAVEngineInfo: Sendable, Equatable {
    public var database: String
    public var signatures: Int
    /// 1 for the first engine, +1 for each successful reload.
    public var generation: Int
    public var loadSeconds: Double
}

/// One engine's answer to `ClamAVEngine.reloadAll()`.
public struct ClamAVReload: Sendable {
    public var database: String
    public var result: Result<ClamAVEngineInfo, ClamAVError>
}

extension ClamAVEngine {
    private struct Key: Hashable {
        var directory: String
        var maxSize: Int?
    }

    private struct WeakEngine {
        weak var engine: ClamAVEngine?
    }

    /// Engines in use, by directory and size limit. Weak: an engine no policy
    /// uses any more (after a configuration reload) is freed.
    private static let registry = Mutex<[Key: WeakEngine]>([:])

    /// The engine for `database`, shared by every policy naming the same
    /// directory and limit. Not loaded yet: call `loadIfNeeded()`.
    public static func shared(database: String, maxSize: Int? = nil) -> ClamAVEngine {
        let key = Key(directory: URL(fileURLWithPath: database).standardizedFileURL.resolvingSymlinksInPath().path,
                      maxSize: maxSize)
        return registry.withLock { engines in
            if let engine = engines[key]?.engine { return engine }
            let engine = ClamAVEngine(database: database, maxSize: maxSize)
            engines[key] = WeakEngine(engine: engine)
            engines = engines.filter { $0.value.engine != nil }
            return engine
        }
    }

    /// Reloads every shared engine (SIGHUP), one after another so only one
    /// extra engine is in memory at a time.
    public static func reloadAll() async -> [ClamAVReload] {
        let engines = registry.withLock { $0.values.compactMap(\.engine) }.sorted { $0.database < $1.database }
        var results: [ClamAVReload] = []
        for engine in engines {
            results.append(ClamAVReload(database: engine.database, result: await engine.reload()))
        }
        return results
    }
}

/// Names, sizes and modification times of a directory's files: a reload is
/// due when they differ from the last load's.
struct DatabaseFingerprint: Equatable, Sendable {
    struct Entry: Equatable, Sendable {
        var name: String
        var size: Int
        var modified: Double
    }

    var entries: [Entry]

    init(directory: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        entries = names.sorted().map { name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)
            return Entry(name: name, size: (attributes?[.size] as? Int) ?? -1,
                         modified: (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        }
    }
}

extension Duration {
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
