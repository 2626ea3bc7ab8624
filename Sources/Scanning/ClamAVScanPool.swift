import NIOPosix
import Synchronization

/// A fixed number of threads for libclamav scans, which block. A scan waits
/// for a free thread in NIO's queue without blocking its caller; the number
/// of threads bounds the CPU and memory scans take at once.
final class ClamAVScanPool: Sendable {
    let threads: Int
    private let pool: NIOThreadPool
    private let usage = Usage()

    init(threads: Int) {
        self.threads = max(1, threads)
        pool = NIOThreadPool(numberOfThreads: self.threads)
        pool.start()
    }

    deinit {
        // Queued jobs are called as cancelled; a scan still running finishes first.
        pool.shutdownGracefully { _ in }
    }

    var peak: Int { usage.peak }

    /// Runs `job` on a pool thread. After `timeout` seconds the caller gets
    /// `.error("timeout")`; a job already running goes on until libclamav
    /// returns (it cannot be interrupted), a job still queued is skipped.
    func run(timeout: Double, _ job: @escaping @Sendable () -> ScanVerdict) async -> ScanVerdict {
        let answer = OnceAnswer()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                answer.set(continuation)
                let timer = Task.detached {
                    do { try await Task.sleep(for: .seconds(timeout)) } catch { return }
                    answer.resume(.error("timeout after \(ScanVerdict.score(timeout)) s"))
                }
                pool.submit { [usage] state in
                    guard state == .active else {
                        timer.cancel()
                        answer.resume(.error("clamav scanner shut down"))
                        return
                    }
                    guard answer.isPending else { return }
                    usage.start()
                    let verdict = job()
                    usage.end()
                    timer.cancel()
                    answer.resume(verdict)
                }
            }
        } onCancel: {
            answer.resume(.error("scan cancelled"))
        }
    }
}

/// Jobs running now, and the most seen at once (tests check the bound).
private final class Usage: Sendable {
    private let counts = Mutex<(running: Int, peak: Int)>((0, 0))

    var peak: Int { counts.withLock { $0.peak } }

    func start() {
        counts.withLock { counts in
            counts.running += 1
            counts.peak = max(counts.peak, counts.running)
        }
    }

    func end() { counts.withLock { $0.running -= 1 } }
}

/// Resumes a continuation once, with whichever answer comes first (the job,
/// the timer or cancellation).
private final class OnceAnswer: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<ScanVerdict, Never>?, answered: Bool)>((nil, false))

    func set(_ continuation: CheckedContinuation<ScanVerdict, Never>) {
        let early = state.withLock { state -> Bool in
            if state.answered { return true }
            state.continuation = continuation
            return false
        }
        // Cancelled before the continuation existed.
        if early { continuation.resume(returning: .error("scan cancelled")) }
    }

    var isPending: Bool { state.withLock { !$0.answered } }

    func resume(_ verdict: ScanVerdict) {
        let continuation = state.withLock { state -> CheckedContinuation<ScanVerdict, Never>? in
            guard !state.answered else { return nil }
            state.answered = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: verdict)
    }
}
