import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the start-up scan found (logged by the daemon).
public struct RecoveryReport: Sendable, Equatable {
    public var loaded = 0
    /// Messages that could not be read, moved to corrupt/.
    public var corrupt: [String] = []
    /// Files of no message: a body without envelope (older layout: its
    /// commit never finished, so no 250 was sent for it) or a record's
    /// sidecar whose record was removed; deleted.
    public var orphanBodies = 0
    public var highestID: QueueID?
    /// Records written back from the commit journal (a crash lost them).
    public var journalRestored = 0
    /// Messages whose removal the journal recorded, removed again.
    public var journalRemoved = 0
    /// Why the commit journal is off although configured (no room to lay
    /// it out): every batch then takes the classic commit.
    public var journalUnavailable: String?
}

/// The start-up scan of `msg/`. Both layouts are read as they are, never
/// converted: records (`ID.msg` + optional sidecar `ID.env`, version 4) and
/// older pairs (`ID.eml` + `ID.env`, versions 1 to 3).
enum QueueRecovery {
    static func run(directory: String, corruptPath: String) throws(QueueIOError) -> RecoveryReport {
        var report = RecoveryReport()
        let messagesPath = directory + "/msg"
        let names = Set(try FileIO.list(messagesPath))
        let reader = QueueReader(directory: directory)
        for name in names {
            let base = String(name.dropLast(4))
            let hasRecord = names.contains(base + ".msg"), hasBody = names.contains(base + ".eml")
            switch name.suffix(4) {
            case ".eml" where !names.contains(base + ".env"),
                 ".env" where !hasRecord && !hasBody && isSidecar(messagesPath + "/" + name):
                unlink(messagesPath + "/" + name)
                report.orphanBodies += 1
                continue
            case ".msg", ".env" where !hasRecord:
                break
            default:
                continue
            }
            if let id = QueueID(base), isReadable(id, record: hasRecord, body: hasBody, reader: reader) {
                report.loaded += 1
                report.highestID = max(report.highestID ?? id, id)
            } else {
                // Never silently dropped: set aside for the operator.
                for file in [base + ".msg", base + ".env", base + ".eml"] where names.contains(file) {
                    rename(messagesPath + "/" + file, corruptPath + "/" + file)
                }
                report.corrupt.append(base)
            }
        }
        return report
    }

    /// A record is whole (trailer, envelope) and its sidecar, if any, is a
    /// readable version-4 envelope; an older pair has both files and a
    /// readable envelope.
    private static func isReadable(_ id: QueueID, record: Bool, body: Bool, reader: QueueReader) -> Bool {
        guard let current = try? reader.envelope(id: id), current.id == id else { return false }
        guard record else { return body && current.layout == .pair }
        guard current.layout == .record,
              let embedded = try? MessageRecord.readEnvelope("\(reader.directory)/msg/\(id).msg") else { return false }
        return embedded.id == id && embedded.size == current.size
    }

    /// A version-4 envelope alone: the sidecar of a record whose removal
    /// stopped between its two unlinks.
    private static func isSidecar(_ path: String) -> Bool {
        (try? EnvelopeCodec.decode(FileIO.readAll(path)))?.layout == .record
    }
}

/// Read-only access to a queue directory, for `postern queue list|show`
/// (works whether or not the daemon runs; changes nothing).
public struct QueueReader: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public enum Entry: Sendable {
        case envelope(Envelope)
        case unreadable(id: String, reason: String)
    }

    /// Every committed message, oldest first.
    public func list() throws(QueueIOError) -> [Entry] {
        try messageIDs().map { id in
            do {
                return .envelope(try envelope(id: id))
            } catch let error as EnvelopeCodec.DecodeError {
                return .unreadable(id: id.description, reason: error.description)
            } catch {
                return .unreadable(id: id.description, reason: "\(error)")
            }
        }
    }

    /// The committed messages' IDs, oldest first (queue IDs grow with time):
    /// every record, and every older pair's envelope (a lone sidecar is a
    /// removal in progress, not a message).
    func messageIDs() throws(QueueIOError) -> [QueueID] {
        let names = Set(try FileIO.list(directory + "/msg"))
        return names.compactMap { name -> QueueID? in
            let base = String(name.dropLast(4))
            switch name.suffix(4) {
            case ".msg": return QueueID(base)
            case ".env" where names.contains(base + ".eml"): return QueueID(base)
            default: return nil
            }
        }.sorted()
    }

    /// The envelope as it stands: the sidecar (or older pair's) `ID.env`
    /// if there is one, else the one inside the record `ID.msg`.
    public func envelope(id: QueueID) throws -> Envelope {
        let sidecar = "\(directory)/msg/\(id).env"
        do {
            return try EnvelopeCodec.decode(FileIO.readAll(sidecar))
        } catch let error as QueueIOError where error.errno == ENOENT {
            return try MessageRecord.readEnvelope("\(directory)/msg/\(id).msg")
        }
    }

    /// Where the body octets of a queued message are.
    public func body(of envelope: Envelope) -> QueuedBody {
        switch envelope.layout {
        case .record: QueuedBody(path: "\(directory)/msg/\(envelope.id).msg", offset: envelope.bodyOffset, end: envelope.size)
        case .pair: QueuedBody(path: "\(directory)/msg/\(envelope.id).eml", offset: envelope.bodyOffset)
        }
    }

    /// The body as spooled (from octet 0, before `bodyOffset`).
    public func body(id: QueueID) throws -> [UInt8] {
        var whole = body(of: try envelope(id: id))
        whole.offset = 0
        return try FileIO.readAll(whole.path, limit: whole.limit)
    }

    /// The message as it is sent: the added fields, then the body from the
    /// envelope's offset; at most `limit` octets (a DSN's copy of the
    /// original header section needs only the start).
    public func message(_ envelope: Envelope, limit: Int = .max) throws -> [UInt8] {
        let prefix = Array(envelope.addedHeaders.joined().utf8)
        guard prefix.count < limit else { return Array(prefix.prefix(limit)) }
        let body = body(of: envelope)
        return try prefix + FileIO.readAll(body.path, offset: body.offset, limit: min(body.limit, limit - prefix.count))
    }
}
