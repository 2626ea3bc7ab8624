import Synchronization
import CoreMetrics

/// What delivery counts, through the swift-metrics facade. Labels come from
/// fixed sets (results, DSN kinds), never a destination or a domain: the
/// per-destination picture stays in the logs and `postern queue`.
public enum DeliveryMetrics {
    /// Name → help text, for the exporter's `# HELP` lines.
    public static let help: [String: String] = [
        "postern_delivery_attempts_total": "Delivery attempts of a message (all its open recipients at once).",
        "postern_delivery_recipients_total": "Recipient outcomes of delivery attempts, by result (delivered, deferred, failed).",
        "postern_delivery_bounces_total": "Delivery status notifications made, by kind (failure, delay, success: NOTIFY=SUCCESS answered here).",
        "postern_delivery_duration_seconds": "Time to deliver one message to one domain: routing, connection and transaction.",
        "postern_delivery_connections_opened_total": "SMTP connections opened to next hops (sessions set up).",
        "postern_delivery_connections_reused_total": "Messages sent on a pooled connection instead of a new one.",
        "postern_delivery_dead_destinations": "Next hops (address:port) marked dead and left alone now.",
        "postern_delivery_in_flight": "Messages being delivered now (most may wait for a slot at their next hop).",
    ]

    /// Duration histogram buckets by name (seconds): up to the command timeouts.
    public static let durationBuckets: [String: [Double]] = [
        "postern_delivery_duration_seconds": [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    ]

    enum Result: String, CaseIterable {
        case delivered, deferred, failed
    }

    static let attempts = Counter(label: "postern_delivery_attempts_total")
    static let recipients: [Result: Counter] = Dictionary(uniqueKeysWithValues: Result.allCases.map {
        ($0, Counter(label: "postern_delivery_recipients_total", dimensions: [("result", $0.rawValue)]))
    })
    static let failureBounces = Counter(label: "postern_delivery_bounces_total", dimensions: [("kind", "failure")])
    static let delayBounces = Counter(label: "postern_delivery_bounces_total", dimensions: [("kind", "delay")])
    static let successReports = Counter(label: "postern_delivery_bounces_total", dimensions: [("kind", "success")])
    static let duration = Timer(label: "postern_delivery_duration_seconds")
    static let connectionsOpened = Counter(label: "postern_delivery_connections_opened_total")
    static let connectionsReused = Counter(label: "postern_delivery_connections_reused_total")
    static let deadDestinations = Meter(label: "postern_delivery_dead_destinations")
    static let inFlight = Meter(label: "postern_delivery_in_flight")

    /// Makes every series now, so a scrape shows them from zero.
    public static func prepare() {
        _ = (attempts, recipients, failureBounces, delayBounces, successReports, duration, connectionsOpened, connectionsReused,
             deadDestinations, inFlight)
    }

    static func count(_ outcome: RecipientOutcome) {
        switch outcome {
        case .delivered: recipients[.delivered]?.increment()
        case .deferred: recipients[.deferred]?.increment()
        case .failed: recipients[.failed]?.increment()
        }
    }
}

extension DeliveryAgent {
    /// Sets the gauges only the agent knows (dead next hops, messages in
    /// progress); the exporter calls this before each scrape.
    public func refreshMetrics() async {
        DeliveryMetrics.deadDestinations.set(await limiter.deadCount())
        DeliveryMetrics.inFlight.set(state.withLock { $0.inFlight })
    }
}
