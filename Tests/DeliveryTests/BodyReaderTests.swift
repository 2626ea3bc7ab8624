import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import Delivery

/// A queue record holds its envelope after the body: the reader sends
/// `[offset, end)` and not an octet of what follows.
@Suite("Body reader")
struct BodyReaderTests {
    @Test(arguments: [(0, nil), (4, nil), (4, 20), (0, 3), (30, 20)] as [(Int, Int?)])
    func readsOnlyTheRange(offset: Int, end: Int?) async throws {
        let path = NSTemporaryDirectory() + "postern-body-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        let content = Array("0123456789abcdefghijENVELOPE-AND-TRAILER".utf8)
        try Data(content).write(to: URL(fileURLWithPath: path))
        let received = Mutex<[UInt8]>([])
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        try await BodyReader().read(.file(path: path, offset: offset, end: end), chunkSize: 7, on: eventLoop) { chunk in
            received.withLock { $0 += Array(chunk.readableBytesView) }
            return eventLoop.makeSucceededFuture(())
        }.get()
        let stop = min(end ?? content.count, content.count)
        #expect(received.withLock { $0 } == Array(content[min(offset, stop)..<stop]))
    }
}
