import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The CLI's side of the control socket: a blocking connect, one request
/// line out, one reply line back. Plain sockets: a command-line tool needs
/// no event loop for one exchange.
public struct ControlClient: Sendable {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// Nothing listens: no socket file, or its daemon is gone.
        case notRunning(String)
        case permissionDenied(String)
        case io(String)

        public var description: String {
            switch self {
            case .notRunning(let path): return "the daemon is not running (no answer on \(path))"
            case .permissionDenied(let path): return "permission denied on \(path) (run as root, the daemon's user or a member of its group)"
            case .io(let why): return why
            }
        }
    }

    public let path: String
    public var timeoutSeconds = 30

    public init(path: String) {
        self.path = path
    }

    /// Something accepts connections on the socket. `countingRefusedAccess`:
    /// a socket we may not use still belongs to a live daemon (only a refused
    /// connection or a missing file means a stale one).
    public func isAlive(countingRefusedAccess: Bool = false) -> Bool {
        do {
            close(try connect())
            return true
        } catch .permissionDenied {
            return countingRefusedAccess
        } catch {
            return false
        }
    }

    public func send(_ request: ControlRequest) throws(Failure) -> ControlReply {
        let fd = try connect()
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard var line = try? JSONEncoder().encode(request) else { throw .io("cannot encode the request") }
        line.append(UInt8(ascii: "\n"))
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw .io("cannot send the request: \(String(cString: strerror(errno)))") }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !reply.contains(UInt8(ascii: "\n")) {
            let count = read(fd, &chunk, chunk.count)
            if count == 0 { break }
            guard count > 0 else { throw .io("no reply from the daemon: \(String(cString: strerror(errno)))") }
            reply += chunk[..<count]
        }
        guard let decoded = try? JSONDecoder().decode(ControlReply.self, from: Data(reply)) else {
            throw .io("unreadable reply from the daemon")
        }
        return decoded
    }

    private func connect() throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .io("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .io("control socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            if code == EACCES || code == EPERM { throw .permissionDenied(path) }
            throw .notRunning(path)
        }
        return fd
    }
}
