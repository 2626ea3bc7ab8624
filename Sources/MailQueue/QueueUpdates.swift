import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Status changes after the commit: only the envelope is rewritten (temp
/// file, fsync, rename, directory fsync), the body never changes.
extension MailQueue {
    /// Durably replaces the envelope of a queued message.
    public func update(_ envelope: Envelope) throws(QueueIOError) {
        let temporary = "\(incomingPath)/\(envelope.id).env.update"
        let fd = try FileIO.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try FileIO.writeAll(fd, EnvelopeCodec.encode(envelope), path: temporary)
            try FileIO.fsync(fd, path: temporary)
            Glibc.close(fd)
        } catch {
            Glibc.close(fd)
            unlink(temporary)
            throw error
        }
        let target = "\(messagesPath)/\(envelope.id).env"
        guard rename(temporary, target) == 0 else {
            let error = QueueIOError(operation: "rename", path: target, errno: errno)
            unlink(temporary)
            throw error
        }
        try syncMessagesDirectory()
    }

    /// Removes a message: the envelope (the commit record) first, so a crash
    /// in between leaves an orphan body that recovery removes, never an
    /// envelope without its body. No directory fsync: if a crash undoes the
    /// unlink the message is only delivered again, never lost (Postfix makes
    /// the same trade), and a sync per delivered message would halve relay
    /// throughput.
    public func remove(_ id: QueueID) throws(QueueIOError) {
        let envelope = "\(messagesPath)/\(id).env"
        if unlink(envelope) != 0 && errno != ENOENT { throw QueueIOError(operation: "unlink", path: envelope, errno: errno) }
        unlink("\(messagesPath)/\(id).eml")
    }

    /// Every readable envelope in the queue, oldest first (for the scheduler
    /// at start).
    public func envelopes() throws(QueueIOError) -> [Envelope] {
        try QueueReader(directory: directory).list().compactMap {
            if case .envelope(let envelope) = $0 { return envelope }
            return nil
        }
    }

    public func envelope(id: QueueID) throws -> Envelope {
        try QueueReader(directory: directory).envelope(id: id)
    }

    /// The message file of a queued message.
    public func bodyPath(id: QueueID) -> String {
        "\(messagesPath)/\(id).eml"
    }

    private func syncMessagesDirectory() throws(QueueIOError) {
        try FileIO.syncDirectory(messagesPath)
    }
}
