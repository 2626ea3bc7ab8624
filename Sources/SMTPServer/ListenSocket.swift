import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP socket bound to a listener's address but not yet accepting: the
/// daemon binds ports below 1024 while it is still root, drops to its
/// configured user, and only then hands the socket to `SMTPListener`, whose
/// accept loop therefore never runs as root (as OpenSMTPD and Postfix's
/// master do).
public struct ListenSocket: Sendable {
    public let host: String
    public let port: Int
    public let descriptor: CInt

    public struct BindError: Error, CustomStringConvertible {
        public let address: String
        public let errno: CInt

        public var description: String {
            var text = "cannot listen on \(address): \(String(cString: strerror(errno))) (errno \(errno))"
            if errno == EACCES {
                text += "; a port below 1024 needs root (with [daemon] user to drop to) or CAP_NET_BIND_SERVICE"
            }
            return text
        }
    }

    /// socket(2) and bind(2) with SO_REUSEADDR, as NIO's own bind does;
    /// listen(2) is left to NIO when the socket is handed over.
    public static func bind(host: String, port: Int) throws -> ListenSocket {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let label = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        #if os(Linux)
        let type = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        let fd = socket(address.protocol.rawValue, type, 0)
        guard fd >= 0 else { throw BindError(address: label, errno: errno) }
        var one: CInt = 1
        let bound = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size)) == 0
            && address.withSockAddr { pointer, size in systemBind(fd, pointer, socklen_t(size)) } == 0
        guard bound else {
            let error = errno
            systemClose(fd)
            throw BindError(address: label, errno: error)
        }
        return ListenSocket(host: host, port: port, descriptor: fd)
    }

    /// Closes a socket that was never handed to a listener.
    public func close() {
        systemClose(descriptor)
    }
}

// The C functions, out of reach of `ListenSocket.bind` and `close` by name.
private func systemBind(_ fd: CInt, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> CInt {
    bind(fd, address, length)
}

private func systemClose(_ fd: CInt) {
    _ = close(fd)
}
