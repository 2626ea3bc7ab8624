#if canImport(Glibc)
import Glibc
#endif

/// The files of one queued message.
enum QueueFiles {
    /// Unlinks a message's files. A record: `ID.msg` (the commit record)
    /// first, then its sidecar, so a crash in between leaves a lone
    /// version-4 `ID.env` that recovery removes. An older pair: the envelope
    /// first, then the body (an orphan body is removed at start too).
    /// `sidecar: false`: the record is known to have none.
    /// `spares`: a record may be kept there for reuse rather than unlinked.
    static func remove(_ id: QueueID, in messagesPath: String, sidecar: Bool = true,
                       spares: SpareFiles? = nil) throws(QueueIOError) {
        let name = id.description
        let record = "\(messagesPath)/\(name).msg"
        let envelope = "\(messagesPath)/\(name).env"
        if spares?.keep(record, as: name) == true || unlink(record) == 0 {
            if sidecar { unlink(envelope) }
            return
        }
        guard errno == ENOENT else { throw QueueIOError(operation: "unlink", path: record, errno: errno) }
        if unlink(envelope) != 0 && errno != ENOENT { throw QueueIOError(operation: "unlink", path: envelope, errno: errno) }
        unlink("\(messagesPath)/\(name).eml")
    }

    /// Unlinks whatever files `id` has in the directory `messagesFD` (a
    /// journal replay's removal record).
    static func removeAll(_ id: QueueID, in messagesFD: Int32) {
        for suffix in [".msg", ".env", ".eml"] { unlinkat(messagesFD, "\(id)\(suffix)", 0) }
    }
}
