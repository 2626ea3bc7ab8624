import Foundation
import Testing
@testable import SMTPServer

@Suite("Listening sockets bound ahead of the listener")
struct ListenSocketTests {
    @Test func anAddressInUseIsNamed() throws {
        let first = try ListenSocket.bind(host: "127.0.0.1", port: 0)
        defer { first.close() }
        #expect(listen(first.descriptor, 8) == 0)
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(first.descriptor, $0, &length) }
        }
        #expect(named == 0)
        let port = Int(UInt16(bigEndian: address.sin_port))
        #expect(port > 0)
        do {
            let second = try ListenSocket.bind(host: "127.0.0.1", port: port)
            second.close()
            Issue.record("a second socket bound 127.0.0.1:\(port)")
        } catch let error as ListenSocket.BindError {
            #expect(error.errno == EADDRINUSE)
            #expect(error.description.hasPrefix("cannot listen on 127.0.0.1:\(port): "))
            #expect(error.description.lowercased().contains("in use"), "the harness retries on this: \(error)")
        }
    }

    @Test func permissionDeniedNamesTheWayOut() {
        let error = ListenSocket.BindError(address: "[::1]:25", errno: EACCES)
        #expect(error.description.contains("cannot listen on [::1]:25: Permission denied"))
        #expect(error.description.contains("CAP_NET_BIND_SERVICE"))
    }
}
