import CoreMetrics
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Prometheus
import Testing
@testable import PosternDaemon

@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    /// An endpoint whose scrape and readiness the test sets.
    static func endpoint(metrics: String = "postern_x_total 1\n", problem: String? = nil) -> MetricsEndpoint {
        MetricsEndpoint(scrape: { $0.makeSucceededFuture(Array(metrics.utf8)) }, readinessProblem: { problem })
    }

    static func channel(_ endpoint: MetricsEndpoint) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true,
                                                                          withErrorHandling: true)
        try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(endpoint: endpoint))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    /// Sends raw request bytes; returns everything written back.
    static func exchange(_ channel: EmbeddedChannel, _ request: String) throws -> String {
        try channel.writeInbound(ByteBuffer(string: request))
        var response = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = part { response += String(buffer: buffer) }
        }
        return response
    }

    static func get(_ path: String, method: String = "GET", endpoint: MetricsEndpoint = endpoint()) throws -> String {
        try exchange(try channel(endpoint), "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n")
    }

    @Test func metricsInTextFormat() throws {
        let response = try Self.get("/metrics")
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(response.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        #expect(response.contains("Content-Length: 18\r\n"))
        #expect(response.hasSuffix("\r\n\r\npostern_x_total 1\n"))
    }

    @Test func queryStringIsIgnored() throws {
        #expect(try Self.get("/metrics?name[]=x").hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func headHasNoBody() throws {
        let response = try Self.get("/metrics", method: "HEAD")
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(response.contains("Content-Length: 18\r\n"))
        #expect(response.hasSuffix("\r\n\r\n"))
    }

    @Test func healthz() throws {
        let response = try Self.get("/healthz", endpoint: Self.endpoint(problem: "queue filesystem is full"))
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(response.hasSuffix("\r\n\r\nok\n"))
    }

    @Test func readyzSaysWhyNot() throws {
        #expect(try Self.get("/readyz").hasSuffix("\r\n\r\nready\n"))
        let response = try Self.get("/readyz", endpoint: Self.endpoint(problem: "queue filesystem is full"))
        #expect(response.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(response.hasSuffix("\r\n\r\nnot ready: queue filesystem is full\n"))
    }

    @Test(arguments: ["/", "/metricsx", "/metrics/", "/../healthz"])
    func unknownPathsAre404(path: String) throws {
        #expect(try Self.get(path).hasPrefix("HTTP/1.1 404 Not Found\r\n"))
    }

    @Test(arguments: ["POST", "PUT", "DELETE", "OPTIONS"])
    func onlyGetAndHead(method: String) throws {
        let response = try Self.get("/metrics", method: method)
        #expect(response.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
        #expect(response.contains("Allow: GET, HEAD\r\n"))
    }

    @Test func bodyTooLargeClosesTheConnection() throws {
        let channel = try Self.channel(Self.endpoint())
        let body = String(repeating: "x", count: MetricsHTTPHandler.maxBodyBytes + 1)
        let response = try Self.exchange(channel, "GET /metrics HTTP/1.1\r\nHost: l\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(response.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"))
        #expect(response.contains("Connection: close\r\n"))
        #expect(!channel.isActive)
    }

    @Test func smallBodyIsRefusedToo() throws {
        let response = try Self.exchange(try Self.channel(Self.endpoint()),
                                         "GET /healthz HTTP/1.1\r\nHost: l\r\nContent-Length: 3\r\n\r\nabc")
        #expect(response.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"))
    }

    @Test func keepAliveServesSeveralRequests() throws {
        let channel = try Self.channel(Self.endpoint())
        let response = try Self.exchange(channel, "GET /healthz HTTP/1.1\r\nHost: l\r\n\r\nGET /readyz HTTP/1.1\r\nHost: l\r\n\r\n")
        #expect(response.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 3)
        #expect(channel.isActive)
        let closing = try Self.exchange(channel, "GET /healthz HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n")
        #expect(closing.contains("Connection: close\r\n"))
        #expect(!channel.isActive)
    }

    @Test func malformedRequestIs400() throws {
        let response = try Self.exchange(try Self.channel(Self.endpoint()), "NOT HTTP AT ALL\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    }
}

@Suite("Metrics exporter")
struct MetricsExporterTests {
    @Test func helpLinesGoAboveTypeLines() {
        let text = "# TYPE postern_a_total counter\npostern_a_total 1\n# TYPE other gauge\nother 2\n"
        let out = MetricsExporter.addingHelp(Array(text.utf8), help: ["postern_a_total": "A things,\nback\\slash."])
        #expect(String(decoding: out, as: UTF8.self) == """
            # HELP postern_a_total A things,\\nback\\\\slash.
            # TYPE postern_a_total counter
            postern_a_total 1
            # TYPE other gauge
            other 2

            """)
    }

    @Test func scrapeRunsRefreshersAndDescribes() async {
        let registry = PrometheusCollectorRegistry()
        let exporter = MetricsExporter(registry: registry)
        // Made through the facade's types, as the modules make theirs.
        let gauge = Meter(label: "postern_delivery_in_flight", factory: PrometheusMetricsFactory(registry: registry))
        exporter.addRefresher { gauge.set(7) }
        let text = String(decoding: await exporter.scrape(), as: UTF8.self)
        #expect(text.contains("# HELP postern_delivery_in_flight Messages being delivered now"))
        #expect(text.contains("\npostern_delivery_in_flight 7"))
    }

    /// Names follow Prometheus conventions: a `postern_` prefix, snake case,
    /// `_total` only on counters (types are checked by promtool in the
    /// integration test).
    @Test func catalogNames() {
        #expect(MetricsExporter.help.count >= 25)
        for (name, help) in MetricsExporter.help {
            #expect(name.hasPrefix("postern_"), "\(name)")
            #expect(name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "\(name)")
            #expect(!help.isEmpty && help.hasSuffix("."), "\(name): \(help)")
        }
    }
}
