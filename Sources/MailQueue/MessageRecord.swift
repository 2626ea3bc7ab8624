#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One queued message in one file, `msg/ID.msg` (issue #15: one file, one
/// rename and one unlink per message, as Postfix keeps envelope and content
/// in one queue file):
///
///     [0, size)            the body octets as spooled (written during DATA)
///     [size, end − 32)     the envelope text, version 4 (appended at commit)
///     [end − 32, end)      trailer: "postern-record " + 16 hex digits of the
///                          envelope's offset (= size) + "\n"
///
/// The committer appends envelope and trailer to the spool's open file,
/// syncs (one syncfs for the batch), renames it into `msg/` and syncs the
/// directory before the 250, so a record in `msg/` is whole; a file without
/// the trailer was never committed (torn, or not ours) and is never read as
/// a message. The reader finds the envelope from the end: one pread of the
/// tail usually holds envelope and trailer both. Status changes later go to
/// a sidecar `msg/ID.env` (temp, fsync, rename, directory fsync) that
/// supersedes the embedded envelope; the record itself is never rewritten.
/// Every body reader reads `[bodyOffset, size)` (`QueuedBody`), never to
/// the end of the file.
public enum MessageRecord {
    static let trailerMagic = Array("postern-record ".utf8)
    static let trailerSize = 32
    /// Read from the end in one go: envelopes are a few hundred octets.
    static let tailRead = 4096

    /// The envelope and trailer the committer appends after the body.
    static func suffix(for envelope: Envelope) -> [UInt8] {
        var record = envelope
        record.layout = .record
        var bytes = EnvelopeCodec.encode(record)
        bytes += trailer(envelopeOffset: envelope.size)
        return bytes
    }

    static func trailer(envelopeOffset: Int) -> [UInt8] {
        let hex = Array(String(UInt64(envelopeOffset), radix: 16).utf8)
        return trailerMagic + Array(repeating: UInt8(ascii: "0"), count: 16 - hex.count) + hex + [UInt8(ascii: "\n")]
    }

    /// The envelope's offset named by a trailer, or nil if `bytes` is none.
    static func envelopeOffset(trailer bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.count == trailerSize, bytes.starts(with: trailerMagic), bytes.last == UInt8(ascii: "\n") else { return nil }
        let digits = bytes.dropFirst(trailerMagic.count).dropLast()
        guard digits.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
              let offset = Int(String(decoding: digits, as: UTF8.self), radix: 16) else { return nil }
        return offset
    }

    /// The envelope embedded in a whole record (`bytes` from its start, or
    /// just its tail when `fileSize` says how long the file is).
    static func envelope(tail bytes: [UInt8], fileSize: Int) throws(EnvelopeCodec.DecodeError) -> Envelope {
        guard fileSize >= trailerSize, bytes.count >= trailerSize,
              let offset = envelopeOffset(trailer: bytes[(bytes.count - trailerSize)...]) else { throw .noTrailer }
        let tailStart = fileSize - bytes.count
        guard offset >= tailStart, offset <= fileSize - trailerSize else { throw .inconsistent("record trailer points outside the file") }
        let envelope = try EnvelopeCodec.decode(Array(bytes[(offset - tailStart)..<(bytes.count - trailerSize)]))
        guard envelope.layout == .record, envelope.size == offset else {
            throw .inconsistent("record trailer and envelope size disagree")
        }
        return envelope
    }

    /// Reads the envelope embedded in the record at `path`: open, fstat,
    /// one pread of the tail (a second only for an envelope over 4 KiB).
    static func readEnvelope(_ path: String) throws -> Envelope {
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw QueueIOError(operation: "stat", path: path, errno: errno) }
        let fileSize = Int(info.st_size)
        var tail = try FileIO.read(fd, count: min(fileSize, tailRead), at: fileSize - min(fileSize, tailRead), path: path)
        if tail.count >= trailerSize, let offset = envelopeOffset(trailer: tail[(tail.count - trailerSize)...]),
           offset < fileSize - tail.count, offset >= 0 {
            tail = try FileIO.read(fd, count: fileSize - offset, at: offset, path: path)
        }
        return try envelope(tail: tail, fileSize: fileSize)
    }
}

/// Where a queued message's body octets are: `path` from `offset` up to
/// `end` (nil: the end of the file). A record's body ends where its envelope
/// starts, so a reader that went to the end of the file would send the
/// envelope too.
public struct QueuedBody: Sendable, Hashable {
    public var path: String
    public var offset: Int
    public var end: Int?

    public init(path: String, offset: Int = 0, end: Int? = nil) {
        self.path = path
        self.offset = offset
        self.end = end
    }

    /// Octets to read from `offset`: `.max` runs to the end of the file.
    public var limit: Int { end.map { max(0, $0 - offset) } ?? .max }
}
