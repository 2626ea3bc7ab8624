import NIOCore
import NIOHTTP1
import NIOPosix

/// Binds the metrics endpoint (`[metrics] address`); close the returned
/// channel to stop it.
enum MetricsServer {
    /// Seconds a connection may sit without a request.
    static let idleTimeout = TimeAmount.seconds(30)

    static func bind(host: String, port: Int, endpoint: MetricsEndpoint, group: EventLoopGroup) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                    try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try pipeline.addHandler(MetricsHTTPHandler(endpoint: endpoint))
                }
            }
            .bind(host: host, port: port).get()
    }
}
