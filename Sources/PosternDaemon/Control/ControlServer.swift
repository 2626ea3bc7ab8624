import Foundation
import Logging
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's Unix control socket (`postern queue flush|hold|…`). After
/// OpenSMTPD's control.c: a live socket means another daemon runs, so a
/// second one refuses to start; a stale one is replaced. Every connection's
/// peer credentials (SO_PEERCRED) are checked before a request is read:
/// root, the daemon's own user, or the socket's group.
public final class ControlServer: Sendable {
    public struct Settings: Sendable, Equatable {
        public var path: String
        /// Permission bits of the socket file (0660: owner and group).
        public var mode: mode_t = 0o660
        /// Group owning the socket, also allowed through the peer check; nil: the daemon's.
        public var group: gid_t?

        public init(path: String) {
            self.path = path
        }
    }

    public enum StartError: Error, CustomStringConvertible {
        case inUse(String)
        case cannotBind(String, Error)

        public var description: String {
            switch self {
            case .inUse(let path): return "another postern daemon is running (its control socket \(path) answers)"
            case .cannotBind(let path, let error): return "cannot create the control socket \(path): \(error)"
            }
        }
    }

    /// sun_path holds 108 bytes with the terminating NUL.
    public static let maxPathBytes = 107

    let settings: Settings
    let logger: Logger
    let handle: @Sendable (ControlRequest) async -> ControlReply

    public init(settings: Settings, logger: Logger, handle: @escaping @Sendable (ControlRequest) async -> ControlReply) {
        self.settings = settings
        self.logger = logger
        self.handle = handle
    }

    /// Binds the socket; close the returned channel to stop.
    public func bind(group: EventLoopGroup) async throws -> Channel {
        let path = settings.path
        if FileManager.default.fileExists(atPath: path) {
            if ControlClient(path: path).isAlive(countingRefusedAccess: true) { throw StartError.inUse(path) }
            unlink(path) // stale: its daemon died without removing it
        }
        let allowedGroup = settings.group ?? getegid()
        let bootstrap = ServerBootstrap(group: group)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ControlConnectionHandler(server: self, allowedGroup: allowedGroup))
                }
            }
        // Bound under a temporary name, given its group and mode, then
        // renamed into place: the socket never appears with the mode the
        // umask gave it (a client that connects as soon as it exists finds
        // it as configured). A path at the length limit is bound in place.
        let staging = path.utf8.count + 4 <= Self.maxPathBytes ? path + ".new" : path
        if staging != path { unlink(staging) } // left by a start that died here
        let channel: Channel
        do {
            channel = try await bootstrap.bind(unixDomainSocketPath: staging).get()
        } catch {
            throw StartError.cannotBind(path, error)
        }
        if let group = settings.group, chown(staging, uid_t.max, group) != 0 {
            logger.warning("cannot set the control socket's group", metadata: ["path": "\(path)", "errno": "\(errno)"])
        }
        chmod(staging, settings.mode)
        if staging != path && rename(staging, path) != 0 {
            let error = errno
            try? await channel.close()
            unlink(staging)
            throw StartError.cannotBind(path, IOError(errnoCode: error, reason: "rename"))
        }
        return channel
    }

    /// Removes the socket file at shutdown (after the channel is closed).
    public func removeSocket() {
        unlink(settings.path)
    }

    /// Root, our own user, and members of the socket's group by primary group.
    static func mayControl(_ peer: PeerCredentials, allowedGroup: gid_t) -> Bool {
        peer.uid == 0 || peer.uid == geteuid() || peer.gid == allowedGroup
    }
}

/// `struct ucred` (needs _GNU_SOURCE in C, so not visible from Swift's Glibc).
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = .max
    var gid: UInt32 = .max
}

/// One control connection: credentials, one request line, one reply line.
final class ControlConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Requests are small; anything longer is not ours.
    static let maxRequest = 1 << 20
    private let server: ControlServer
    private let allowedGroup: gid_t
    private var buffer = ByteBuffer()
    private var peer: PeerCredentials?
    /// A request is being carried out or was answered: nothing more is read.
    private var taken = false

    init(server: ControlServer, allowedGroup: gid_t) {
        self.server = server
        self.allowedGroup = allowedGroup
    }

    func channelActive(context: ChannelHandlerContext) {
        guard let provider = context.channel as? SocketOptionProvider else { return context.close(promise: nil) }
        let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (handler, context) = loopBound.value
            guard let peer = try? result.get() else {
                // Whoever it is cannot be checked: not served.
                handler.server.logger.notice("control connection without peer credentials refused")
                return context.close(promise: nil)
            }
            handler.peer = peer
            handler.tryRequest(context: context)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        tryRequest(context: context)
    }

    private func tryRequest(context: ChannelHandlerContext) {
        guard !taken, let peer else { return }
        guard ControlServer.mayControl(peer, allowedGroup: allowedGroup) else {
            server.logger.notice("control request refused", metadata: ["uid": "\(peer.uid)", "gid": "\(peer.gid)", "pid": "\(peer.pid)"])
            return answer(.failure("permission denied: uid \(peer.uid) may not control this daemon"), context: context)
        }
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maxRequest { answer(.failure("request too long"), context: context) }
            return
        }
        let line = buffer.getSlice(at: buffer.readerIndex, length: newline - buffer.readerIndex)!
        let request: ControlRequest
        do {
            request = try JSONDecoder().decode(ControlRequest.self, from: Data(line.readableBytesView))
        } catch {
            return answer(.failure("unreadable request: \(error)"), context: context)
        }
        guard request.version == ControlRequest.currentVersion else {
            return answer(.failure("protocol version \(request.version) not supported (daemon speaks \(ControlRequest.currentVersion))"),
                          context: context)
        }
        taken = true
        server.logger.info("control request", metadata: ["command": "\(request.command.rawValue)", "uid": "\(peer.uid)",
                                                         "ids": "\(request.ids.count)", "all": "\(request.all)"])
        let handle = server.handle
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask { await handle(request) }.whenSuccess { reply in
            let (handler, context) = loopBound.value
            handler.answer(reply, context: context)
        }
    }

    private func answer(_ reply: ControlReply, context: ChannelHandlerContext) {
        taken = true
        var out = context.channel.allocator.buffer(capacity: 256)
        out.writeBytes((try? JSONEncoder().encode(reply)) ?? Data(#"{"ok":false,"error":"cannot encode reply"}"#.utf8))
        out.writeInteger(UInt8(ascii: "\n"))
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }
}
