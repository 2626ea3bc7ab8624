import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Unlinks delivered messages on a queue of its own, so the delivering
/// task does not wait for the disk (an unlink took 0.35–0.7 ms here, on
/// a cooperative thread; bench/README.md "Cost budget"). Removals that
/// arrive while one runs are done in the same pass.
///
/// Crash safety is what it was with the unlink inline: nothing is synced
/// after an unlink, so a crash between the next hop's 250 and the unlink
/// reaching the disk delivers the message again, never loses it (Postfix
/// makes the same trade). The window is longer by the queue's latency
/// (microseconds idle, one pass under load). Until its files are gone the
/// message is hidden from this process (`isRemoving`), so an operator's
/// flush cannot send it twice.
final class QueueRemover: Sendable {
    private struct Removal {
        var id: QueueID
        var sidecar: Bool
        var onFailure: @Sendable (QueueIOError) -> Void
    }

    private struct State {
        var pending: [Removal] = []
        var removing: Set<QueueID> = []
        var scheduled = false
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "postern.remove")
    let messagesPath: String

    init(messagesPath: String) {
        self.messagesPath = messagesPath
    }

    func enqueue(_ id: QueueID, sidecar: Bool, onFailure: @escaping @Sendable (QueueIOError) -> Void) {
        let start = state.withLock { state -> Bool in
            state.pending.append(Removal(id: id, sidecar: sidecar, onFailure: onFailure))
            state.removing.insert(id)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        if start { queue.async { self.run() } }
    }

    /// Handed over for removal and not yet unlinked.
    func isRemoving(_ id: QueueID) -> Bool {
        state.withLock { $0.removing.contains(id) }
    }

    /// Waits until every removal handed over so far is done.
    func drain() {
        queue.sync {}
    }

    private func run() {
        while true {
            let batch = state.withLock { state -> [Removal] in
                let batch = state.pending
                state.pending = []
                if batch.isEmpty { state.scheduled = false }
                return batch
            }
            if batch.isEmpty { return }
            for removal in batch {
                do throws(QueueIOError) {
                    try Self.removeFiles(removal.id, in: messagesPath, sidecar: removal.sidecar)
                } catch {
                    removal.onFailure(error)
                }
            }
            state.withLock { state in
                for removal in batch { state.removing.remove(removal.id) }
            }
        }
    }

    /// Unlinks a message's files. A record: `ID.msg` (the commit record)
    /// first, then its sidecar, so a crash in between leaves a lone
    /// version-4 `ID.env` that recovery removes. An older pair: the envelope
    /// first, then the body (an orphan body is removed at start too).
    /// `sidecar: false`: the record is known to have none.
    static func removeFiles(_ id: QueueID, in messagesPath: String, sidecar: Bool = true) throws(QueueIOError) {
        let record = "\(messagesPath)/\(id).msg"
        let envelope = "\(messagesPath)/\(id).env"
        if unlink(record) == 0 {
            if sidecar { unlink(envelope) }
            return
        }
        guard errno == ENOENT else { throw QueueIOError(operation: "unlink", path: record, errno: errno) }
        if unlink(envelope) != 0 && errno != ENOENT { throw QueueIOError(operation: "unlink", path: envelope, errno: errno) }
        unlink("\(messagesPath)/\(id).eml")
    }
}
