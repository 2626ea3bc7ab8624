import Foundation

/// A fixed set of threads that run blocking jobs, each thread with its own context
/// (for `LDNSResolver`: its own ldns resolvers, which are not thread-safe). Jobs wait in
/// one FIFO queue; the number of threads bounds how many run at once.
final class LDNSWorkerPool<Context>: Sendable {
    typealias Job = @Sendable (Context) -> Void

    private let queue = JobQueue<Context>()
    /// Left by each thread as it ends, so `shutdown` can wait for all of them.
    private let running = DispatchGroup()

    /// Starts `threads` threads; each calls `makeContext` once, on itself, before its
    /// first job.
    init(threads: Int, name: String, makeContext: @escaping @Sendable () -> Context) {
        for index in 0..<max(1, threads) {
            let queue = self.queue
            let running = self.running
            running.enter()
            let thread = Thread {
                let context = makeContext()
                while let job = queue.next() { job(context) }
                withExtendedLifetime(context) {}
                running.leave()
            }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    deinit { queue.close() }

    func submit(_ job: @escaping Job) { queue.append(job) }

    /// Lets the threads finish the queued jobs and end, without waiting.
    func close() { queue.close() }

    /// Lets the threads finish the queued jobs, and waits until they have
    /// ended. A process must do this before it exits: a thread still
    /// starting up (resolving symbols, creating its ldns resolvers) while
    /// exit() tears the process down can crash it.
    func shutdown() {
        queue.close()
        running.wait()
    }
}

/// The queue shared by the pool's threads. Every stored property is guarded by `condition`.
private final class JobQueue<Context>: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [LDNSWorkerPool<Context>.Job] = []
    private var head = 0
    private var closed = false

    func append(_ job: @escaping LDNSWorkerPool<Context>.Job) {
        condition.lock()
        defer { condition.unlock() }
        precondition(!closed, "job submitted to a worker pool that was shut down")
        jobs.append(job)
        condition.signal()
    }

    /// The next job, waiting for one; `nil` once the queue is closed and empty.
    func next() -> LDNSWorkerPool<Context>.Job? {
        condition.lock()
        defer { condition.unlock() }
        while head == jobs.count && !closed { condition.wait() }
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
        if head > 64 && head * 2 > jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
