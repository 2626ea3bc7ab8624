import Dispatch
import Foundation
import MailQueue
import Synchronization

/// Runs file work off the caller's executor (a session's Task must not
/// hold a cooperative thread while the disk is slow).
enum Blocking {
    static let queue = DispatchQueue(label: "postern.mailstore", attributes: .concurrent)

    static func run<T: Sendable>(_ work: @escaping @Sendable () throws(MailStoreError) -> T) async throws(MailStoreError) -> T {
        let result: Result<T, MailStoreError> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(MailStoreError) in try work() }) }
        }
        return try result.get()
    }
}

/// A session's view of a Maildir: the user's own (every message) or the
/// quarantine (only messages with a recipient the user answers for).
final class FolderView: MailboxView {
    let info: MailboxInfo
    let folder: MaildirFolder
    let account: Account
    private struct State {
        var messages: [UInt32: MaildirFolder.Message] = [:]
        /// UIDs this session claimed from new/ (RFC 3501 \Recent).
        var recent: Set<UInt32> = []
    }
    private let state = Mutex(State())

    init(info: MailboxInfo, folder: MaildirFolder, account: Account) {
        self.info = info
        self.folder = folder
        self.account = account
    }

    private var isQuarantine: Bool { info.role == .quarantine }

    func refresh(claimRecent: Bool) async throws(MailStoreError) -> MailboxStatus {
        try await Blocking.run { () throws(MailStoreError) in
            let snapshot = try self.folder.scan()
            var visible: [(MaildirFolder.Message, String?)] = []
            for message in snapshot.messages {
                guard self.isQuarantine else {
                    visible.append((message, nil))
                    continue
                }
                guard let facts = self.account.directory.facts(message),
                      !self.account.mailUser.own(facts.recipients).isEmpty else { continue }
                visible.append((message, facts.id.description))
            }
            var claimed: Set<UInt32> = []
            if claimRecent {
                for (message, _) in visible where message.isNew && self.folder.claim(message) { claimed.insert(message.uid) }
            }
            return self.state.withLock { state in
                state.recent.formUnion(claimed)
                state.messages = Dictionary(uniqueKeysWithValues: visible.map { ($0.0.uid, $0.0) })
                state.recent.formIntersection(state.messages.keys)
                let messages = visible.map { message, id in
                    StoredMessage(uid: message.uid, size: message.size, internalDate: message.date,
                                  flags: message.flags, recent: state.recent.contains(message.uid),
                                  uniqueName: message.baseName, queueID: id)
                }
                return MailboxStatus(uidValidity: snapshot.uidValidity, uidNext: snapshot.uidNext, messages: messages)
            }
        }
    }

    private func message(_ uid: UInt32) throws(MailStoreError) -> MaildirFolder.Message {
        guard let message = state.withLock({ $0.messages[uid] }) else { throw .noSuchMessage(uid) }
        return message
    }

    func contents(uid: UInt32) async throws(MailStoreError) -> [UInt8] {
        try await contents(uid: uid, limit: .max)
    }

    func contents(uid: UInt32, limit: Int) async throws(MailStoreError) -> [UInt8] {
        let message = try message(uid)
        return try await Blocking.run { () throws(MailStoreError) in try self.folder.contents(message, limit: limit) }
    }

    func setFlags(_ flags: [UInt32: MessageFlags]) async throws(MailStoreError) -> [UInt32: MessageFlags] {
        let targets = state.withLock { state in flags.compactMap { uid, flags in state.messages[uid].map { ($0, flags) } } }
        let changed = try await Blocking.run { () throws(MailStoreError) in
            var changed: [(MaildirFolder.Message, MessageFlags, String)] = []
            for (message, flags) in targets {
                if let path = try self.folder.setFlags(message, flags) { changed.append((message, flags, path)) }
            }
            return changed
        }
        return state.withLock { state in
            var result: [UInt32: MessageFlags] = [:]
            for (message, flags, path) in changed {
                state.messages[message.uid]?.flags = flags
                state.messages[message.uid]?.path = path
                state.messages[message.uid]?.isNew = false
                result[message.uid] = flags
            }
            return result
        }
    }

    func expunge(uids: [UInt32]) async throws(MailStoreError) -> [UInt32] {
        let targets = state.withLock { state in uids.compactMap { state.messages[$0] } }
        var removed: [UInt32] = []
        for message in targets {
            if isQuarantine {
                try await act(on: message, with: account.directory.actions.drop)
            } else {
                try await Blocking.run { () throws(MailStoreError) in try self.folder.delete(message) }
            }
            removed.append(message.uid)
        }
        forget(removed)
        return removed
    }

    func release(uids: [UInt32]) async throws(MailStoreError) -> [UInt32] {
        guard isQuarantine else { throw .notAllowed("only held (quarantined) messages can be released") }
        let targets = state.withLock { state in uids.compactMap { state.messages[$0] } }
        var released: [UInt32] = []
        for message in targets {
            try await act(on: message, with: account.directory.actions.release)
            released.append(message.uid)
        }
        forget(released)
        return released
    }

    /// Runs a release or drop for the user's recipients of one held message.
    private func act(on message: MaildirFolder.Message,
                     with action: @Sendable (QueueID, [String], String) async throws -> Void) async throws(MailStoreError) {
        let directory = account.directory
        let facts = try? await Blocking.run { directory.facts(message) }
        guard let facts else { throw .noSuchMessage(message.uid) }
        let mine = account.mailUser.own(facts.recipients)
        guard !mine.isEmpty else { throw .noSuchMessage(message.uid) }
        do {
            try await action(facts.id, mine, account.user)
        } catch let error as MailStoreError {
            throw error
        } catch {
            throw .io("\(error)")
        }
    }

    private func forget(_ uids: [UInt32]) {
        state.withLock { state in
            for uid in uids {
                state.messages[uid] = nil
                state.recent.remove(uid)
            }
        }
    }
}

/// Release: always empty; COPY and MOVE into it release (see IMAP server).
struct ReleaseView: MailboxView {
    let info: MailboxInfo
    /// Nothing is ever kept here, so one UIDVALIDITY serves for ever.
    static let uidValidity: UInt32 = 1

    func refresh(claimRecent: Bool) async throws(MailStoreError) -> MailboxStatus {
        MailboxStatus(uidValidity: Self.uidValidity, uidNext: 1, messages: [])
    }

    func contents(uid: UInt32) async throws(MailStoreError) -> [UInt8] { throw .noSuchMessage(uid) }

    func setFlags(_ flags: [UInt32: MessageFlags]) async throws(MailStoreError) -> [UInt32: MessageFlags] { [:] }

    func expunge(uids: [UInt32]) async throws(MailStoreError) -> [UInt32] { [] }

    func release(uids: [UInt32]) async throws(MailStoreError) -> [UInt32] {
        throw .notAllowed("messages in Release are on their way already")
    }
}
