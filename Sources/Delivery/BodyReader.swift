import NIOCore
import NIOPosix

/// Reads a message body chunk by chunk: a queue file through NIO's thread
/// pool (a 50 MB message is never in memory at once), in-memory bodies in
/// slices. The next chunk is only read when the sink's future succeeds, so
/// a slow peer slows the reading (back-pressure).
struct BodyReader: Sendable {
    let fileIO: NonBlockingFileIO

    init(threadPool: NIOThreadPool = .singleton) {
        fileIO = NonBlockingFileIO(threadPool: threadPool)
    }

    func read(_ body: MessageBody, chunkSize: Int, on eventLoop: EventLoop,
              sink: @escaping @Sendable (ByteBuffer) -> EventLoopFuture<Void>) -> EventLoopFuture<Void> {
        switch body {
        case .bytes(let buffer):
            return Self.feed(buffer, chunkSize: chunkSize, on: eventLoop, sink: sink)
        case .file(let path, let offset, let end):
            let fileIO = self.fileIO
            return fileIO.openFile(_deprecatedPath: path, eventLoop: eventLoop).flatMap { handle, whole in
                let stop = min(end ?? whole.endIndex, whole.endIndex)
                let region = FileRegion(fileHandle: handle, readerIndex: min(offset, stop), endIndex: stop)
                return fileIO.readChunked(fileRegion: region, chunkSize: chunkSize, allocator: ByteBufferAllocator(),
                                   eventLoop: eventLoop, chunkHandler: sink)
                    .always { _ in try? handle.close() }
            }
        }
    }

    private static func feed(_ rest: ByteBuffer, chunkSize: Int, on eventLoop: EventLoop,
                             sink: @escaping @Sendable (ByteBuffer) -> EventLoopFuture<Void>) -> EventLoopFuture<Void> {
        var rest = rest
        guard rest.readableBytes > 0, let chunk = rest.readSlice(length: min(chunkSize, rest.readableBytes)) else {
            return eventLoop.makeSucceededFuture(())
        }
        let remaining = rest
        return sink(chunk).flatMap { feed(remaining, chunkSize: chunkSize, on: eventLoop, sink: sink) }
    }
}
