import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Status changes after the commit: only the envelope is rewritten (temp
/// file, fsync, rename, directory fsync), the body never changes. For a
/// record that envelope is the sidecar `ID.env`, which supersedes the one
/// inside `ID.msg`; a message delivered at its first attempt never has one.
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

    /// Removes a message now (delivered, an operator's delete, a quarantine
    /// move). A delivered message's unlink is not synced: if a crash undoes
    /// it the message is only delivered again, never lost (Postfix makes the
    /// same trade), and a sync per delivered message would halve relay
    /// throughput. Done inline:
    /// handing it to a thread of its own cost ~10 futex calls and 1.5 context
    /// switches per message (bench/README.md "Cost budget"). `sidecar: false`
    /// (the envelope as committed was never updated) saves looking for an
    /// `ID.env`.
    ///
    /// `finished`: delivery is over (delivered or bounced), so the record
    /// may be kept as a spare for the next small message to overwrite
    /// (`SpareFiles`) instead of unlinked. An operator's delete or a
    /// quarantine move always unlinks.
    ///
    /// With the commit journal on, the removal is recorded there too, so a
    /// replay does not bring the message back: a delivered message's with
    /// the next batch (noted while its record becomes a spare, so no batch
    /// takes the note before the move, which the spare's reuse relies on);
    /// an operator's delete or a quarantine move synced before the files
    /// go, since those must never come back.
    ///
    /// Without the journal, an operator's delete or a quarantine move
    /// syncs `msg/` after the unlinks, for the same reason.
    public func remove(_ id: QueueID, sidecar: Bool = true, finished: Bool = false) throws(QueueIOError) {
        let messagesPath = self.messagesPath, spares = self.spares
        guard let journal = committer.journal, journal.isUsable else {
            try QueueFiles.remove(id, in: messagesPath, sidecar: sidecar, spares: finished ? spares : nil)
            if !finished { try FileIO.syncDirectory(messagesPath) }
            return
        }
        if finished {
            try journal.noteRemoval(id) { (recorded) throws(QueueIOError) in
                try QueueFiles.remove(id, in: messagesPath, sidecar: sidecar, spares: recorded ? spares : nil)
            }
        } else {
            try journal.removeDurably(id) { () throws(QueueIOError) in
                try QueueFiles.remove(id, in: messagesPath, sidecar: sidecar)
            }
        }
    }

    /// Every readable envelope in the queue, oldest first (for the scheduler
    /// at start and the control socket), without those being removed.
    public func envelopes() throws(QueueIOError) -> [Envelope] {
        try QueueReader(directory: directory).list().compactMap {
            if case .envelope(let envelope) = $0 { return envelope }
            return nil
        }
    }

    public func envelope(id: QueueID) throws -> Envelope {
        return try QueueReader(directory: directory).envelope(id: id)
    }

    /// Where the body of a queued message is.
    public func body(of envelope: Envelope) -> QueuedBody {
        QueueReader(directory: directory).body(of: envelope)
    }

    private func syncMessagesDirectory() throws(QueueIOError) {
        try FileIO.syncDirectory(messagesPath)
    }
}
