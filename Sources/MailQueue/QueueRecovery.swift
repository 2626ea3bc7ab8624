import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the start-up scan found (logged by the daemon).
public struct RecoveryReport: Sendable, Equatable {
    public var loaded = 0
    /// Envelopes that could not be read, moved to corrupt/.
    public var corrupt: [String] = []
    /// Bodies with no envelope: their commit never finished, so no 250 was
    /// sent for them; removed.
    public var orphanBodies = 0
    public var highestID: QueueID?
}

enum QueueRecovery {
    static func run(messagesPath: String, corruptPath: String) throws(QueueIOError) -> RecoveryReport {
        var report = RecoveryReport()
        let names = Set(try FileIO.list(messagesPath))
        for name in names {
            let base = String(name.dropLast(4))
            if name.hasSuffix(".eml") {
                if !names.contains(base + ".env") {
                    unlink(messagesPath + "/" + name)
                    report.orphanBodies += 1
                }
                continue
            }
            guard name.hasSuffix(".env") else { continue }
            let id = QueueID(base)
            let readable: Bool
            if let id, names.contains(base + ".eml"),
               let envelope = try? EnvelopeCodec.decode(FileIO.readAll(messagesPath + "/" + name)),
               envelope.id == id {
                readable = true
            } else {
                readable = false
            }
            if readable, let id {
                report.loaded += 1
                report.highestID = max(report.highestID ?? id, id)
            } else {
                // Never silently dropped: set aside for the operator.
                rename(messagesPath + "/" + name, corruptPath + "/" + name)
                if names.contains(base + ".eml") { rename(messagesPath + "/" + base + ".eml", corruptPath + "/" + base + ".eml") }
                report.corrupt.append(base)
            }
        }
        return report
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
        let path = directory + "/msg"
        return try envelopeNames().map { name in
            let id = String(name.dropLast(4))
            do {
                return .envelope(try EnvelopeCodec.decode(FileIO.readAll(path + "/" + name)))
            } catch let error as EnvelopeCodec.DecodeError {
                return .unreadable(id: id, reason: error.description)
            } catch {
                return .unreadable(id: id, reason: "\(error)")
            }
        }
    }

    /// The envelope files' names, oldest first (queue IDs grow with time).
    func envelopeNames() throws(QueueIOError) -> [String] {
        try FileIO.list(directory + "/msg").filter { $0.hasSuffix(".env") }.sorted()
    }

    public func envelope(id: QueueID) throws -> Envelope {
        try EnvelopeCodec.decode(FileIO.readAll(bodyPath(id: id).dropLast(4) + ".env"))
    }

    public func bodyPath(id: QueueID) -> String {
        "\(directory)/msg/\(id).eml"
    }

    public func body(id: QueueID) throws -> [UInt8] {
        try FileIO.readAll(bodyPath(id: id))
    }

    /// The message as it is sent: the added fields, then the body file from
    /// the envelope's offset; at most `limit` octets (a DSN's copy of the
    /// original header section needs only the start).
    public func message(_ envelope: Envelope, limit: Int = .max) throws -> [UInt8] {
        let prefix = Array(envelope.addedHeaders.joined().utf8)
        guard prefix.count < limit else { return Array(prefix.prefix(limit)) }
        return try prefix + FileIO.readAll(bodyPath(id: envelope.id), offset: envelope.bodyOffset, limit: limit - prefix.count)
    }
}
