import CoreMetrics
import Foundation

/// What the queue counts, through the swift-metrics facade: group commits
/// as they happen, and the queue's contents as `QueueCensus` finds them
/// when the exporter asks (`record`), so nothing is kept up to date on
/// the way of each message.
public enum QueueMetrics {
    /// Name → help text, for the exporter's `# HELP` lines.
    public static let help: [String: String] = [
        "postern_queue_commit_batch_messages": "Messages made durable together by one group commit.",
        "postern_queue_commit_syncs": "fsync/fdatasync/syncfs calls made by one group commit (directory syncs and checkpoints included).",
        "postern_queue_journal_checkpoints_total": "Commit journal checkpoints made because it was full (syncfs, directory fsync, new generation).",
        "postern_queue_commit_duration_seconds": "Time one group commit took to write, sync and rename its batch.",
        "postern_queue_commit_failures_total": "Messages whose commit failed (the client got a 4xx).",
        "postern_queue_messages": "Messages in the queue, by state (unscanned: beyond the census limit).",
        "postern_queue_oldest_message_age_seconds": "Age of the oldest message in the queue (0 when empty).",
        "postern_queue_unreadable_envelopes": "Envelopes in the queue that could not be read at the last census.",
    ]

    /// Histogram buckets by name (counts).
    public static let buckets: [String: [Double]] = [
        "postern_queue_commit_batch_messages": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
        "postern_queue_commit_syncs": [0, 1, 2, 3, 4, 8, 16, 64, 256, 1024],
    ]

    /// Duration histogram buckets by name (seconds).
    public static let durationBuckets: [String: [Double]] = [
        "postern_queue_commit_duration_seconds": [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ]

    static let batchMessages = Recorder(label: "postern_queue_commit_batch_messages")
    static let batchSyncs = Recorder(label: "postern_queue_commit_syncs")
    static let commitDuration = Timer(label: "postern_queue_commit_duration_seconds")
    static let commitFailures = Counter(label: "postern_queue_commit_failures_total")
    static let journalCheckpoints = Counter(label: "postern_queue_journal_checkpoints_total")
    static let byState: [Envelope.State: Meter] = Dictionary(uniqueKeysWithValues: Envelope.State.allCases.map {
        ($0, Meter(label: "postern_queue_messages", dimensions: [("state", $0.rawValue)]))
    })
    static let unscanned = Meter(label: "postern_queue_messages", dimensions: [("state", "unscanned")])
    static let oldestAge = Meter(label: "postern_queue_oldest_message_age_seconds")
    static let unreadable = Meter(label: "postern_queue_unreadable_envelopes")

    /// Makes the series that exist from the start, so a scrape shows them at zero.
    public static func prepare() {
        _ = (batchMessages, batchSyncs, commitDuration, commitFailures, journalCheckpoints, byState, unscanned, oldestAge, unreadable)
    }

    /// Sets the queue gauges from a census.
    public static func record(_ census: QueueCensus, now: Date = Date()) {
        for state in Envelope.State.allCases { byState[state]?.set(census.byState[state, default: 0]) }
        unscanned.set(census.unscanned)
        unreadable.set(census.unreadable)
        oldestAge.set(census.oldestCreated.map { max(0, now.timeIntervalSince($0)) } ?? 0)
    }

    static func recordBatch(messages: Int, syncs: Int, failures: Int, nanoseconds: Int64) {
        batchMessages.record(messages)
        batchSyncs.record(syncs)
        commitDuration.recordNanoseconds(nanoseconds)
        if failures > 0 { commitFailures.increment(by: failures) }
    }
}

/// How many messages the queue holds in each state, and how old the oldest
/// is: read from the envelopes, oldest first, up to a limit (a queue of a
/// million messages is counted, not read, beyond it).
public struct QueueCensus: Sendable, Equatable {
    public var byState: [Envelope.State: Int] = [:]
    /// Committed messages past the limit, not read.
    public var unscanned = 0
    public var unreadable = 0
    public var oldestCreated: Date?

    public init() {}
}

extension QueueReader {
    /// Counts the queue, reading at most `limit` envelopes (the oldest, so
    /// the oldest message is always among them).
    public func census(limit: Int) throws(QueueIOError) -> QueueCensus {
        let ids = try messageIDs()
        var census = QueueCensus()
        census.unscanned = max(0, ids.count - limit)
        for id in ids.prefix(limit) {
            guard let envelope = try? envelope(id: id) else {
                census.unreadable += 1
                continue
            }
            census.byState[envelope.state, default: 0] += 1
            census.oldestCreated = min(census.oldestCreated ?? envelope.created, envelope.created)
        }
        return census
    }
}
