import CoreMetrics
import Delivery
import MailQueue
import Synchronization
import Policy
import Prometheus
import Scanning
import IMAPServer
import POP3Server
import SMTPServer

/// The one place metrics leave the process (chasquid's expvarom): every
/// module declares its own described metrics on the swift-metrics facade
/// (`SMTPServerMetrics`, `PolicyMetrics`, `QueueMetrics`, `QuarantineMetrics`, `DeliveryMetrics`),
/// and this exporter points the facade at a Prometheus registry and serves
/// it as text, with each module's help text as `# HELP` lines.
public final class MetricsExporter: Sendable {
    /// Every metric's help text, from the modules that declare them.
    public static let help: [String: String] = [SMTPServerMetrics.help, PolicyMetrics.help, QueueMetrics.help,
                                                QuarantineMetrics.help, DeliveryMetrics.help, ScanMetrics.help,
                                                POP3ServerMetrics.help, IMAPServerMetrics.help].reduce(into: [:]) { $0.merge($1) { a, _ in a } }

    /// The process's exporter. The facade can be bootstrapped once per
    /// process, so the first use does it and later ones (a reload) share it.
    public static let shared: MetricsExporter = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets = QueueMetrics.buckets
        factory.durationHistogramBuckets = QueueMetrics.durationBuckets.merging(DeliveryMetrics.durationBuckets) { a, _ in a }
            .mapValues { $0.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) } }
        MetricsSystem.bootstrap(factory)
        SMTPServerMetrics.prepare()
        POP3ServerMetrics.prepare()
        IMAPServerMetrics.prepare()
        PolicyMetrics.prepare()
        QueueMetrics.prepare()
        QuarantineMetrics.prepare()
        DeliveryMetrics.prepare()
        return MetricsExporter(registry: registry)
    }()

    let registry: PrometheusCollectorRegistry
    /// Run before each scrape to set the gauges that are computed, not kept
    /// (queue census, dead destinations).
    private let refreshers = Mutex<[@Sendable () async -> Void]>([])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    public func addRefresher(_ refresh: @escaping @Sendable () async -> Void) {
        refreshers.withLock { $0.append(refresh) }
    }

    /// The Prometheus text exposition of every metric, refreshed now.
    public func scrape() async -> [UInt8] {
        for refresh in refreshers.withLock({ $0 }) { await refresh() }
        return Self.addingHelp(registry.emitToBuffer(), help: Self.help)
    }

    /// `# HELP name text` above each `# TYPE name …` line whose name has help.
    static func addingHelp(_ text: [UInt8], help: [String: String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + help.count * 80)
        let typePrefix = Array("# TYPE ".utf8)
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.starts(with: typePrefix) {
                let name = String(decoding: line.dropFirst(typePrefix.count).prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                if let text = help[name] { out += Array("# HELP \(name) \(escapeHelp(text))\n".utf8) }
            }
            out += line
            out.append(UInt8(ascii: "\n"))
        }
        // split keeps the text's final newline as an empty last line.
        if text.last == UInt8(ascii: "\n") { out.removeLast() }
        return out
    }

    /// Help text escaping of the text format: backslash and line feed.
    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
