import Foundation
import IMAPCore
import MailStore

/// Commands of the selected state (RFC 3501 §6.4, RFC 6851 MOVE, RFC 3691 UNSELECT).
extension IMAPSession {
    func selectedCommand(_ command: TaggedCommand, selection: Selection, _ out: inout SessionOutput) async {
        let tag = command.tag
        switch command.command {
        case .fetch(let set, let attributes): await fetch(tag, set, attributes, byUID: false, &out)
        case .uidFetch(let set, let attributes): await fetch(tag, set, attributes, byUID: true, &out)
        case .search(let charset, let key): await search(tag, charset, key, byUID: false, &out)
        case .uidSearch(let charset, let key): await search(tag, charset, key, byUID: true, &out)
        case .store(let set, let flags): await store(tag, set, flags, byUID: false, &out)
        case .uidStore(let set, let flags): await store(tag, set, flags, byUID: true, &out)
        case .copy(let set, let target): await transfer(tag, set, target.name, byUID: false, move: false, &out)
        case .uidCopy(let set, let target): await transfer(tag, set, target.name, byUID: true, move: false, &out)
        case .move(let set, let target): await transfer(tag, set, target.name, byUID: false, move: true, &out)
        case .uidMove(let set, let target): await transfer(tag, set, target.name, byUID: true, move: true, &out)
        case .expunge: await expunge(tag, only: nil, &out)
        case .uidExpunge(let set): await expunge(tag, only: Set(resolve(set, byUID: true, selection.messages).map { selection.messages[$0].uid }), &out)
        case .close:
            if !selection.readOnly { _ = try? await removeDeleted(selection, only: nil) }
            if let account { state = .authenticated(account) }
            out.tagged(tag, .ok, "CLOSE completed")
        case .unselect:
            if let account { state = .authenticated(account) }
            out.tagged(tag, .ok, "UNSELECT completed")
        default:
            out.tagged(tag, .bad, "Command not valid here")
        }
    }

    var selection: Selection? {
        if case .selected(_, let selection) = state { return selection }
        return nil
    }

    func setSelection(_ selection: Selection) {
        if case .selected(let account, _) = state { state = .selected(account, selection) }
    }

    /// Indices into `messages` named by a sequence set of sequence numbers
    /// or UIDs; "*" is the last one (RFC 3501 §6.4.8: "n:*" with n past the
    /// end still names the last message). Numbers that name nothing are left out.
    func resolve(_ set: SequenceSet, byUID: Bool, _ messages: [StoredMessage]) -> [Int] {
        guard !messages.isEmpty else { return [] }
        let largest = byUID ? messages[messages.count - 1].uid : UInt32(messages.count)
        func value(_ number: SequenceNumber) -> UInt32 {
            switch number {
            case .number(let n): return n
            case .last: return largest
            }
        }
        var chosen = IndexSet()
        for range in set.ranges {
            let low = min(value(range.first), value(range.second))
            let high = max(value(range.first), value(range.second))
            if byUID {
                let start = messages.partitionPoint { $0.uid < low }
                var index = start
                while index < messages.count, messages[index].uid <= high {
                    chosen.insert(index)
                    index += 1
                }
            } else if low <= UInt32(messages.count) {
                chosen.insert(integersIn: Int(low - 1)..<Int(min(high, UInt32(messages.count))))
            }
        }
        return Array(chosen)
    }

    // MARK: - STORE

    private func store(_ tag: String, _ set: SequenceSet, _ request: StoreFlags, byUID: Bool, _ out: inout SessionOutput) async {
        guard var selection else { return }
        guard !selection.readOnly else {
            out.tagged(tag, .no, code: "READ-ONLY", "Mailbox is read-only")
            return
        }
        let requested = Self.messageFlags(request.flags)
        let indices = resolve(set, byUID: byUID, selection.messages)
        var wanted: [UInt32: MessageFlags] = [:]
        for index in indices {
            let current = selection.messages[index].flags
            switch request.operation {
            case .replace: wanted[selection.messages[index].uid] = requested
            case .add: wanted[selection.messages[index].uid] = current.union(requested)
            case .remove: wanted[selection.messages[index].uid] = current.subtracting(requested)
            }
        }
        do {
            let result = try await selection.view.setFlags(wanted)
            for index in indices {
                let uid = selection.messages[index].uid
                guard let flags = result[uid] else { continue }
                selection.messages[index].flags = flags
                if !request.silent {
                    out.untagged("\(index + 1) FETCH (FLAGS \(flagText(selection.messages[index]))\(byUID ? " UID \(uid)" : ""))")
                }
            }
            setSelection(selection)
            out.tagged(tag, .ok, "STORE completed")
        } catch {
            respond(tag, error, &out)
        }
    }

    /// The system flags a Maildir keeps; keywords are not kept
    /// (PERMANENTFLAGS says so by leaving out "\*").
    static func messageFlags(_ flags: [Flag]) -> MessageFlags {
        var result: MessageFlags = []
        for flag in flags {
            switch flag {
            case .seen: result.insert(.seen)
            case .answered: result.insert(.answered)
            case .flagged: result.insert(.flagged)
            case .deleted: result.insert(.deleted)
            case .draft: result.insert(.draft)
            case .extension, .keyword: break
            }
        }
        return result
    }

    static func imapFlags(_ flags: MessageFlags) -> [Flag] {
        var result: [Flag] = []
        if flags.contains(.answered) { result.append(.answered) }
        if flags.contains(.flagged) { result.append(.flagged) }
        if flags.contains(.deleted) { result.append(.deleted) }
        if flags.contains(.seen) { result.append(.seen) }
        if flags.contains(.draft) { result.append(.draft) }
        return result
    }

    /// "(\Seen …)" with \Recent for this session's recent messages.
    func flagText(_ message: StoredMessage) -> String {
        var names = Self.imapFlags(message.flags).map(IMAPWire.flag)
        if message.recent { names.append("\\Recent") }
        return "(\(names.joined(separator: " ")))"
    }

    // MARK: - COPY / MOVE

    /// Only Release takes messages: a copy or move there releases each
    /// held message for the user's recipients (once; it then leaves the
    /// quarantine view). Nothing else can be copied anywhere.
    private func transfer(_ tag: String, _ set: SequenceSet, _ target: String, byUID: Bool, move: Bool,
                          _ out: inout SessionOutput) async {
        guard var selection, let account else { return }
        let verb = move ? "MOVE" : "COPY"
        let wanted = target.uppercased() == "INBOX" ? "INBOX" : target
        guard let info = account.mailboxes().first(where: { $0.name == wanted }) else {
            out.tagged(tag, .no, code: "TRYCREATE", "No mailbox named \(MailboxPattern.printable(target))")
            return
        }
        guard info.role == .release, selection.view.info.role == .quarantine else {
            out.tagged(tag, .no, code: "CANNOT", "Only held messages can be moved or copied, and only to Release")
            return
        }
        let indices = resolve(set, byUID: byUID, selection.messages)
        let uids = indices.map { selection.messages[$0].uid }
        do {
            let released = Set(try await selection.view.release(uids: uids))
            IMAPServerMetrics.released.increment(by: released.count)
            for index in indices where released.contains(selection.messages[index].uid) {
                let message = selection.messages[index]
                logger.info("released by the user", metadata: ["quarantine_id": "\(message.queueID ?? "-")", "uid": "\(message.uid)"])
            }
            if move {
                // RFC 6851 §3.3: the moved messages are expunged from the source.
                reportExpunged(released, in: &selection, &out)
                setSelection(selection)
            }
            out.tagged(tag, .ok, "\(verb) completed: \(released.count) released")
        } catch {
            respond(tag, error, &out)
        }
    }

    // MARK: - EXPUNGE

    private func expunge(_ tag: String, only: Set<UInt32>?, _ out: inout SessionOutput) async {
        guard let selection else { return }
        guard !selection.readOnly else {
            out.tagged(tag, .no, code: "READ-ONLY", "Mailbox is read-only")
            return
        }
        do {
            out.bytes += try await removeDeleted(selection, only: only).bytes
            out.tagged(tag, .ok, "EXPUNGE completed")
        } catch {
            respond(tag, error, &out)
        }
    }

    /// Removes the messages flagged \Deleted (within `only`, for UID
    /// EXPUNGE): gone from a local Maildir, dropped from the quarantine
    /// for this user. Returns the EXPUNGE responses.
    @discardableResult
    func removeDeleted(_ selection: Selection, only: Set<UInt32>?) async throws -> SessionOutput {
        var selection = selection
        var out = SessionOutput()
        let doomed = selection.messages.filter { $0.flags.contains(.deleted) && (only?.contains($0.uid) ?? true) }.map(\.uid)
        guard !doomed.isEmpty else { return out }
        let removed = Set(try await selection.view.expunge(uids: doomed))
        IMAPServerMetrics.expunged.increment(by: removed.count)
        for message in selection.messages where removed.contains(message.uid) {
            logger.info("deleted by the user", metadata: ["quarantine_id": "\(message.queueID ?? "-")", "uid": "\(message.uid)"])
        }
        reportExpunged(removed, in: &selection, &out)
        setSelection(selection)
        return out
    }

    /// "* n EXPUNGE" for each removed UID, numbered as the client counts
    /// (each response shifts the later numbers down, RFC 3501 §7.4.1).
    func reportExpunged(_ removed: Set<UInt32>, in selection: inout Selection, _ out: inout SessionOutput) {
        guard !removed.isEmpty else { return }
        var kept: [StoredMessage] = []
        for message in selection.messages {
            if removed.contains(message.uid) {
                out.untagged("\(kept.count + 1) EXPUNGE")
            } else {
                kept.append(message)
            }
        }
        selection.messages = kept
    }

    // MARK: - Changes from elsewhere

    /// Rescans the mailbox and tells the client what changed: messages
    /// gone (EXPUNGE, only where RFC 3501 §7.4.1 allows it), new ones
    /// (EXISTS, RECENT), and flags changed by another session (FETCH).
    func update(_ out: inout SessionOutput, expunges: Bool) async {
        guard var selection else { return }
        guard let status = try? await selection.view.refresh(claimRecent: !selection.readOnly) else { return }
        let now = Dictionary(uniqueKeysWithValues: status.messages.map { ($0.uid, $0) })
        if expunges {
            let gone = Set(selection.messages.map(\.uid).filter { now[$0] == nil })
            reportExpunged(gone, in: &selection, &out)
        }
        let recentBefore = selection.messages.count { $0.recent }
        for index in selection.messages.indices {
            guard let fresh = now[selection.messages[index].uid] else { continue }
            let wasRecent = selection.messages[index].recent
            if fresh.flags != selection.messages[index].flags {
                selection.messages[index].flags = fresh.flags
                selection.messages[index].recent = wasRecent || fresh.recent
                out.untagged("\(index + 1) FETCH (FLAGS \(flagText(selection.messages[index])))")
            }
        }
        let known = selection.messages.last?.uid ?? 0
        let added = status.messages.filter { $0.uid > known }
        if !added.isEmpty {
            selection.messages += added
            out.untagged("\(selection.messages.count) EXISTS")
            let recent = selection.messages.count { $0.recent }
            if recent != recentBefore { out.untagged("\(recent) RECENT") }
        }
        selection.uidNext = status.uidNext
        setSelection(selection)
    }

    /// Called by the connection every poll interval while IDLE.
    func idlePoll() async -> SessionOutput {
        var out = SessionOutput()
        await update(&out, expunges: true)
        return out
    }
}

extension Array {
    /// The first index whose element does not satisfy `belongs` (the
    /// array is partitioned: all that do come first).
    func partitionPoint(_ belongs: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
