import CClamAV
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libclamav in the daemon's process: no clamd to run, no socket, and the
/// message is read straight from the spool (libclamav pulls it through a
/// pread callback: prefix, then the file from its offset; no copy, no temp
/// file). Scans run on a bounded pool of threads; see `ClamAVEngine` for
/// loading and reloading the signatures.
public struct ClamAVScanner: ContentScanner {
    public let kind = "clamav"
    public let engine: ClamAVEngine
    /// Seconds the caller waits for a verdict; the scan itself cannot be
    /// interrupted and runs on until libclamav returns (its own MaxScanTime
    /// limit, 120 s by default, ends it).
    public let timeout: Double
    let pool: ClamAVScanPool

    /// `threads`: scans at once (default: one per core).
    public init(engine: ClamAVEngine, threads: Int? = nil, timeout: Double = 60) {
        self.engine = engine
        self.timeout = timeout
        pool = ClamAVScanPool(threads: threads ?? System.coreCount)
    }

    public var threads: Int { pool.threads }

    public func scan(_ request: ScanRequest) async -> ScanVerdict {
        let message = request.message
        if let maxSize = engine.maxSize, message.size > maxSize {
            return .tooLarge("\(message.size) octets, max_size is \(maxSize)")
        }
        engine.checkForChangesIfDue()
        let engine = self.engine
        return await pool.run(timeout: timeout) {
            // Taken on the pool thread: a reload meanwhile changes nothing for this scan.
            guard let loaded = engine.current else {
                return .error("no ClamAV engine loaded from \(engine.database)\(engine.lastError.map { ": \($0)" } ?? "")")
            }
            return Self.scan(message, with: loaded)
        }
    }

    /// Loaded means able to scan.
    public func ping() async -> Bool { engine.current != nil }

    /// Blocks: call on a pool thread.
    static func scan(_ message: MessageSource, with engine: LoadedEngine) -> ScanVerdict {
        guard message.size > 0 else { return .clean }
        var options = cl_scan_options()
        options.parse = ~0
        options.general = UInt32(CL_SCAN_GENERAL_HEURISTICS)
        // Limits reached (archive too deep, too many files…) come back as
        // Heuristics.Limits.Exceeded.*, not a silent partial "clean".
        options.heuristic = UInt32(CL_SCAN_HEURISTIC_EXCEEDS_MAX)
        var name: UnsafePointer<CChar>?
        let code: cl_error_t
        if case .bytes(let bytes) = message.storage, message.prefix.isEmpty {
            code = bytes.withUnsafeBytes { buffer in
                guard let map = cl_fmap_open_memory(buffer.baseAddress, buffer.count) else { return CL_EMAP }
                defer { cl_fmap_close(map) }
                return cl_scanmap_callback(map, nil, &name, nil, engine.pointer, &options, nil)
            }
        } else {
            let reader: MessageMapReader
            switch MessageMapReader.make(message) {
            case .success(let opened): reader = opened
            case .failure(let error): return .error(error.description)
            }
            let handle = Unmanaged.passUnretained(reader).toOpaque()
            code = withExtendedLifetime(reader) {
                guard let map = cl_fmap_open_handle(handle, 0, message.size, { handle, buffer, count, offset in
                    MessageMapReader.read(handle: handle, into: buffer, count: count, at: offset)
                }, 1) else { return CL_EMAP }
                defer { cl_fmap_close(map) }
                return cl_scanmap_callback(map, nil, &name, nil, engine.pointer, &options, nil)
            }
        }
        return verdict(code: code, name: name.map { String(cString: $0) })
    }

    /// libclamav's answer as a verdict.
    static func verdict(code: cl_error_t, name: String?) -> ScanVerdict {
        switch code {
        case CL_CLEAN:
            return .clean
        case CL_VIRUS:
            guard let name, !name.isEmpty else { return .error("libclamav found a virus without a name") }
            if name.hasPrefix("Heuristics.Limits.Exceeded.MaxScanTime") { return .error("libclamav: \(name)") }
            // An archive past MaxFileSize, MaxRecursion or MaxFiles was not
            // scanned whole: refused like a find, as clamd with AlertExceedsMax
            // reports it (a 50 KB zip of a padded .exe must not pass unscanned).
            return .infected(name: name)
        case CL_EMAXREC, CL_EMAXSIZE, CL_EMAXFILES:
            return .infected(name: "Heuristics.Limits.Exceeded (\(ClamAVLibrary.describe(code)))")
        default:
            return .error("libclamav: \(ClamAVLibrary.describe(code))")
        }
    }
}

/// Serves libclamav's reads of one message: the prefix, then the spooled
/// file from its offset (or the bytes in memory).
final class MessageMapReader {
    private let prefix: [UInt8]
    private let bytes: [UInt8]
    private let fd: Int32
    private let fileOffset: Int
    private let length: Int

    private init(prefix: [UInt8], bytes: [UInt8], fd: Int32, fileOffset: Int, length: Int) {
        self.prefix = prefix
        self.bytes = bytes
        self.fd = fd
        self.fileOffset = fileOffset
        self.length = length
    }

    deinit { if fd >= 0 { close(fd) } }

    static func make(_ message: MessageSource) -> Result<MessageMapReader, MessageSource.ReadError> {
        switch message.storage {
        case .bytes(let bytes):
            return .success(MessageMapReader(prefix: message.prefix, bytes: bytes, fd: -1, fileOffset: 0, length: message.size))
        case .file(let path, let offset):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                return .failure(MessageSource.ReadError(description: "cannot open \(path): \(String(cString: strerror(errno)))"))
            }
            return .success(MessageMapReader(prefix: message.prefix, bytes: [], fd: fd, fileOffset: offset, length: message.size))
        }
    }

    /// libclamav's `clcb_pread`: `count` octets at `offset` of the message into `buffer`.
    static func read(handle: UnsafeMutableRawPointer?, into buffer: UnsafeMutableRawPointer?, count: Int, at offset: off_t) -> off_t {
        guard let handle, let buffer else { return -1 }
        let reader = Unmanaged<MessageMapReader>.fromOpaque(handle).takeUnretainedValue()
        return off_t(reader.read(into: buffer, count: count, at: Int(offset)))
    }

    /// Octets copied, 0 at the end, -1 (errno set) when the file cannot be read.
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at position: Int) -> Int {
        var done = 0
        let wanted = max(0, min(count, length - position))
        while done < wanted {
            let at = position + done
            if at < prefix.count {
                let n = min(wanted - done, prefix.count - at)
                prefix.withUnsafeBytes { (buffer + done).copyMemory(from: $0.baseAddress! + at, byteCount: n) }
                done += n
            } else if fd < 0 {
                let start = at - prefix.count
                let n = min(wanted - done, bytes.count - start)
                guard n > 0 else { break }
                bytes.withUnsafeBytes { (buffer + done).copyMemory(from: $0.baseAddress! + start, byteCount: n) }
                done += n
            } else {
                let got = pread(fd, buffer + done, wanted - done, off_t(fileOffset + at - prefix.count))
                if got < 0 {
                    if errno == EINTR { continue }
                    return done > 0 ? done : -1
                }
                if got == 0 { break }
                done += got
            }
        }
        return done
    }
}

