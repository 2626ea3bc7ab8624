#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The message a scanner reads: header fields decided after spooling (if
/// any), then the spooled file from an offset, or bytes still in memory.
/// Read in chunks so a 50 MB message costs one chunk of memory.
public struct MessageSource: Sendable {
    public enum Storage: Sendable {
        case file(path: String, offset: Int)
        case bytes([UInt8])
    }

    public var prefix: [UInt8]
    public var storage: Storage
    /// Octets in all: prefix plus the rest.
    public let size: Int

    public init(path: String, offset: Int = 0, size fileSize: Int, prefix: [UInt8] = []) {
        self.prefix = prefix
        storage = .file(path: path, offset: offset)
        size = prefix.count + max(0, fileSize - offset)
    }

    public init(bytes: [UInt8], prefix: [UInt8] = []) {
        self.prefix = prefix
        storage = .bytes(bytes)
        size = prefix.count + bytes.count
    }

    public struct ReadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Calls `body` with consecutive chunks of at most `chunkSize` octets.
    /// File reads are pread(2) on the calling task: the spool is in the page
    /// cache when scanners run, so a read does not wait for the disk.
    public func forEachChunk(size chunkSize: Int, _ body: ([UInt8]) async throws -> Void) async throws {
        var start = 0
        while start < prefix.count {
            let end = min(prefix.count, start + chunkSize)
            try await body(Array(prefix[start..<end]))
            start = end
        }
        switch storage {
        case .bytes(let bytes):
            var index = 0
            while index < bytes.count {
                let end = min(bytes.count, index + chunkSize)
                try await body(Array(bytes[index..<end]))
                index = end
            }
        case .file(let path, let offset):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw ReadError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var position = off_t(offset)
            var chunk = [UInt8](repeating: 0, count: chunkSize)
            while true {
                let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, chunkSize, position) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw ReadError(description: "cannot read \(path): \(String(cString: strerror(errno)))")
                }
                if count == 0 { return }
                try await body(count == chunkSize ? chunk : Array(chunk[0..<count]))
                position += off_t(count)
            }
        }
    }

    /// The first `limit` octets (header checks, tests).
    public func head(_ limit: Int) async throws -> [UInt8] {
        struct Enough: Error {}
        var result: [UInt8] = []
        do {
            try await forEachChunk(size: max(1, min(limit, 65536))) { chunk in
                result += chunk.prefix(limit - result.count)
                if result.count >= limit { throw Enough() }
            }
        } catch is Enough {}
        return result
    }
}
