import Foundation
import NIOCore
import NIOPosix

/// Where a scanner listens: a Unix socket path ("/run/clamav/clamd.ctl")
/// or HOST:PORT ("127.0.0.1:3310", "[::1]:783").
public enum ScannerAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    public init?(_ text: String) {
        if text.hasPrefix("/") {
            self = .unix(path: text)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self = .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case .unix(let path): return path
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

public enum ScanError: Error, CustomStringConvertible, Equatable {
    case timeout(Double)
    case connect(String)
    case io(String)
    case protocolError(String)

    public var description: String {
        switch self {
        case .timeout(let seconds): return "no answer within \(ScanVerdict.score(seconds)) s"
        case .connect(let why): return "cannot connect to \(why)"
        case .io(let why): return why
        case .protocolError(let why): return "unexpected answer: \(why)"
        }
    }
}

/// One request/response exchange with a scanner over a fresh connection
/// (clamd, spamd and rspamd each take one request per connection here).
/// The whole exchange, connect included, is bounded by `timeout`; on expiry
/// the connection is closed, which ends its reads and writes at once.
enum ScannerConnection {
    static func exchange<Inbound: Sendable, Outbound: Sendable, Result: Sendable>(
        address: ScannerAddress, group: EventLoopGroup, timeout: Double,
        configure: @Sendable @escaping (Channel) throws -> Void = { _ in },
        _ body: @Sendable @escaping (NIOAsyncChannelInboundStream<Inbound>, NIOAsyncChannelOutboundWriter<Outbound>) async throws -> Result
    ) async throws -> Result {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        let bootstrap = ClientBootstrap(group: group).connectTimeout(.milliseconds(Int64(timeout * 1000)))
        let channel: NIOAsyncChannel<Inbound, Outbound>
        do {
            let initializer: @Sendable (Channel) -> EventLoopFuture<NIOAsyncChannel<Inbound, Outbound>> = { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel)
                    return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
                }
            }
            switch address {
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
            case .tcp(let host, let port):
                channel = try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            }
        } catch {
            if ContinuousClock.now >= deadline { throw ScanError.timeout(timeout) }
            throw ScanError.connect("\(address): \(Self.reason(error))")
        }
        let raw = channel.channel
        let left = max(0, (deadline - ContinuousClock.now) / .milliseconds(1))
        let timer = raw.eventLoop.scheduleTask(in: .milliseconds(Int64(left))) { raw.close(promise: nil) }
        defer { timer.cancel() }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                let result = try await body(inbound, outbound)
                if ContinuousClock.now >= deadline { throw ScanError.timeout(timeout) }
                return result
            }
        } catch let error as ScanError {
            // The timer closed the connection mid-exchange: say so, not "I/O error".
            if ContinuousClock.now >= deadline { throw ScanError.timeout(timeout) }
            throw error
        } catch {
            if ContinuousClock.now >= deadline { throw ScanError.timeout(timeout) }
            throw ScanError.io("\(address): \(error)")
        }
    }

    /// "Connection refused" rather than NIO's description of the call.
    static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return reason(first.error)
        }
        if error is ChannelError, case .connectTimeout = error as! ChannelError { return "connect timed out" }
        return "\(error)"
    }

    /// Bytes out, bytes back: `send` writes the request, then the reply is
    /// read until the peer closes or `isComplete` says it is whole.
    static func exchange(address: ScannerAddress, group: EventLoopGroup, timeout: Double, maxReply: Int = 1 << 20,
                         send: @Sendable @escaping (NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> Void,
                         isComplete: @Sendable @escaping ([UInt8]) -> Bool = { _ in false }) async throws -> [UInt8] {
        try await exchange(address: address, group: group, timeout: timeout) {
            (inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) in
            // A scanner may answer and close before the request is all
            // written (clamd past StreamMaxLength): read its answer anyway.
            var sendError: (any Error)?
            do { try await send(outbound) } catch { sendError = error }
            var reply: [UInt8] = []
            for try await var buffer in inbound {
                reply += buffer.readBytes(length: buffer.readableBytes) ?? []
                guard reply.count <= maxReply else { throw ScanError.protocolError("reply longer than \(maxReply) octets") }
                if isComplete(reply) { break }
            }
            if reply.isEmpty, let sendError {
                if let error = sendError as? MessageSource.ReadError { throw ScanError.io(error.description) }
                throw ScanError.io("\(address): \(sendError)")
            }
            return reply
        }
    }
}
