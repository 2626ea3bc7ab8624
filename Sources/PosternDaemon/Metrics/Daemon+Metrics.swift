import Delivery
import MailQueue
import NIOCore

extension Daemon {
    /// Most envelopes a scrape reads for the queue gauges (oldest first).
    static let queueCensusLimit = 10_000

    /// Serves `[metrics] address` with the queue census, the quarantine's size and the delivery
    /// agent's gauges refreshed at each scrape; nil when metrics are off.
    func startMetrics(queue: MailQueue, agent: DeliveryAgent?, quarantine: QuarantineMaildir, readiness: Readiness,
                      group: EventLoopGroup) async throws -> Channel? {
        guard config.metrics.enabled else { return nil }
        let exporter = MetricsExporter.shared
        let reader = QueueReader(directory: queue.directory)
        exporter.addRefresher {
            if let census = try? reader.census(limit: Self.queueCensusLimit) { QueueMetrics.record(census) }
        }
        exporter.addRefresher { QuarantineMetrics.record(quarantine) }
        if let agent { exporter.addRefresher { await agent.refreshMetrics() } }
        let endpoint = MetricsEndpoint(
            scrape: { eventLoop in eventLoop.makeFutureWithTask { await exporter.scrape() } },
            readinessProblem: { readiness.problem() })
        let address = config.metrics.address
        let channel = try await MetricsServer.bind(host: address.host, port: address.port, endpoint: endpoint, group: group)
        logger.info("metrics endpoint", metadata: ["address": "\(address.host):\(address.port)",
                                                   "paths": "/metrics /healthz /readyz"])
        return channel
    }
}
