import Foundation
import IMAPCore
import Logging
import MailStore
import SMTPCore

/// One client's IMAP state (RFC 3501 §3): not authenticated →
/// authenticated → selected → logout. The handler feeds it one command at
/// a time and writes what it returns; the mailbox work is async (the
/// disk), so the session is an actor rather than event-loop state.
actor IMAPSession {
    enum State {
        case notAuthenticated
        case authenticated(any MailAccount)
        case selected(any MailAccount, Selection)
        case loggedOut
    }

    /// The selected mailbox as this session last told the client about it.
    struct Selection {
        var view: any MailboxView
        var readOnly: Bool
        var uidValidity: UInt32
        var uidNext: UInt32
        /// In sequence-number order (RFC 3501 §2.3.1.2).
        var messages: [StoredMessage]
    }

    let context: IMAPServerContext
    let clientAddress: String
    var state = State.notAuthenticated
    var isTLS: Bool
    /// The tag of an AUTHENTICATE waiting for the client's response.
    var pendingAuthentication: String?
    var logger: Logger
    /// The user whose place (from `clientAddress`) this session holds in
    /// `context.userSessions` once logged in.
    var placeHeldFor: String?
    /// The connection is gone (`ended()`): a login still running gives its place back.
    var hasEnded = false
    /// Consecutive commands answered BAD; a client that only sends garbage is dropped.
    var badCommands = 0
    static let maxBadCommands = 10

    init(context: IMAPServerContext, clientAddress: String, isTLS: Bool) {
        self.context = context
        self.clientAddress = clientAddress
        self.isTLS = isTLS
        var logger = context.logger
        logger[metadataKey: "client"] = "\(clientAddress)"
        logger[metadataKey: "proto"] = "imap"
        self.logger = logger
    }

    /// The connection closed: gives back the session's place in `userSessions`.
    func ended() {
        hasEnded = true
        if let user = placeHeldFor {
            context.userSessions?.release(user: user, address: clientAddress)
            placeHeldFor = nil
        }
    }

    var isAuthenticated: Bool {
        switch state {
        case .authenticated, .selected: return true
        case .notAuthenticated, .loggedOut: return false
        }
    }

    var account: (any MailAccount)? {
        switch state {
        case .authenticated(let account), .selected(let account, _): return account
        case .notAuthenticated, .loggedOut: return nil
        }
    }

    func greeting() -> SessionOutput {
        var out = SessionOutput()
        out.untagged("OK [CAPABILITY \(capabilities())] \(context.hostname) Postern IMAP ready")
        return out
    }

    /// RFC 3501 §7.2.1, with what this server speaks.
    func capabilities() -> String {
        var list = ["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "IDLE", "MOVE", "UNSELECT", "SPECIAL-USE", "ENABLE", "NAMESPACE"]
        if !isAuthenticated {
            if !isTLS, context.tls != nil { list.append("STARTTLS") }
            if isTLS || context.allowPlaintextAuth { list.append("AUTH=PLAIN") } else { list.append("LOGINDISABLED") }
        }
        return list.joined(separator: " ")
    }

    /// Answers a line the framing or the grammar refused.
    func refuse(tag: String?, _ text: String) -> SessionOutput {
        var out = SessionOutput()
        badCommands += 1
        if let tag { out.tagged(tag, .bad, text) } else { out.untagged("BAD \(text)") }
        if badCommands >= Self.maxBadCommands {
            out.untagged("BYE Too many invalid commands")
            out.after = .close
            logger.notice("closing after repeated invalid commands")
        }
        return out
    }

    func handle(_ command: TaggedCommand) async -> SessionOutput {
        var out = SessionOutput()
        let tag = command.tag
        badCommands = 0
        switch command.command {
        case .capability:
            out.untagged("CAPABILITY \(capabilities())")
            out.tagged(tag, .ok, "CAPABILITY completed")
        case .noop, .check:
            await update(&out, expunges: true)
            out.tagged(tag, .ok, "\(command.command == .noop ? "NOOP" : "CHECK") completed")
        case .logout:
            out.untagged("BYE \(context.hostname) logging out")
            out.tagged(tag, .ok, "LOGOUT completed")
            out.after = .close
            state = .loggedOut
        case .id:
            out.untagged("ID (\"name\" \"Postern\")")
            out.tagged(tag, .ok, "ID completed")
        case .startTLS:
            startTLS(tag, &out)
        case .login(let user, let password):
            await login(tag, user: user, password: String(decoding: password.bytes, as: UTF8.self), &out)
        case .authenticate(let mechanism, let initial):
            await authenticate(tag, mechanism: mechanism, initial: initial, &out)
        default:
            guard let account else {
                out.tagged(tag, .bad, "Log in first")
                badCommands += 1
                return out
            }
            await authenticatedCommand(command, account: account, &out)
        }
        return out
    }

    private func startTLS(_ tag: String, _ out: inout SessionOutput) {
        guard !isTLS else {
            out.tagged(tag, .bad, "TLS is on already")
            return
        }
        guard context.tls != nil else {
            out.tagged(tag, .no, "TLS is not available")
            return
        }
        out.tagged(tag, .ok, "Begin TLS negotiation now")
        out.after = .startTLS
        // The connection puts TLS in front before it reads another line.
        isTLS = true
    }

    // MARK: - Mailbox commands

    private func authenticatedCommand(_ command: TaggedCommand, account: any MailAccount, _ out: inout SessionOutput) async {
        let tag = command.tag
        switch command.command {
        case .select(let name): await select(tag, name.name, readOnly: false, account: account, &out)
        case .examine(let name): await select(tag, name.name, readOnly: true, account: account, &out)
        case .list(let reference, let pattern): list(tag, reference: reference.name, pattern: pattern, lsub: false, account: account, &out)
        case .lsub(let reference, let pattern): list(tag, reference: reference.name, pattern: pattern, lsub: true, account: account, &out)
        case .listExtended(let selection, let reference, let patterns, _):
            // RFC 5258: every mailbox here is subscribed and has no children,
            // so SUBSCRIBED/SPECIAL-USE selections and RETURN options change
            // nothing but which mailboxes match; the attributes are always sent.
            let onlySpecial = selection.contains { $0.uppercased() == "SPECIAL-USE" }
            list(tag, reference: reference.name, patterns: patterns, lsub: false, onlySpecialUse: onlySpecial,
                 account: account, &out)
        case .status(let name, let items): await status(tag, name.name, items, account: account, &out)
        case .enable:
            // Nothing optional to turn on (RFC 5161 §3.1: answer with what was enabled, here nothing).
            out.untagged("ENABLED")
            out.tagged(tag, .ok, "ENABLE completed")
        case .namespace:
            out.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL")
            out.tagged(tag, .ok, "NAMESPACE completed")
        case .subscribe, .unsubscribe:
            // Every mailbox is always there and always subscribed.
            out.tagged(tag, .ok, "completed")
        case .create, .delete, .rename:
            out.tagged(tag, .no, code: "CANNOT", "The mailboxes here are fixed: INBOX, Release (and Quarantine)")
        case .append:
            out.tagged(tag, .no, code: "CANNOT", "Messages cannot be added here")
        case .idle:
            // Authenticated or selected state alike (RFC 2177 §3).
            out.continuation("idling")
            out.after = .idle
        default:
            guard case .selected(_, let selection) = state else {
                out.tagged(tag, .bad, "Select a mailbox first")
                badCommands += 1
                return
            }
            await selectedCommand(command, selection: selection, &out)
        }
    }

    private func select(_ tag: String, _ name: String, readOnly: Bool, account: any MailAccount,
                        _ out: inout SessionOutput) async {
        // Selecting deselects first, without expunging (RFC 3501 §6.3.1).
        if case .selected = state { state = .authenticated(account) }
        do {
            let view = try account.open(name)
            let status = try await view.refresh(claimRecent: !readOnly)
            let selection = Selection(view: view, readOnly: readOnly, uidValidity: status.uidValidity,
                                      uidNext: status.uidNext, messages: status.messages)
            state = .selected(account, selection)
            let canFlag = view.info.role != .release && !readOnly
            out.untagged("FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
            out.untagged("OK [PERMANENTFLAGS (\(canFlag ? "\\Answered \\Flagged \\Deleted \\Seen \\Draft" : ""))] Flags kept")
            out.untagged("\(status.messages.count) EXISTS")
            out.untagged("\(status.recentCount) RECENT")
            if let firstUnseen = status.messages.firstIndex(where: { !$0.flags.contains(.seen) }) {
                out.untagged("OK [UNSEEN \(firstUnseen + 1)] First unseen")
            }
            out.untagged("OK [UIDVALIDITY \(status.uidValidity)] UIDs valid")
            out.untagged("OK [UIDNEXT \(status.uidNext)] Predicted next UID")
            out.tagged(tag, .ok, code: readOnly ? "READ-ONLY" : "READ-WRITE", "\(readOnly ? "EXAMINE" : "SELECT") completed")
        } catch {
            respond(tag, error, &out)
        }
    }

    private func status(_ tag: String, _ name: String, _ items: [StatusAttribute], account: any MailAccount,
                        _ out: inout SessionOutput) async {
        do {
            let status = try await account.open(name).refresh(claimRecent: false)
            let values = items.map { item -> String in
                switch item {
                case .messages: return "MESSAGES \(status.messages.count)"
                case .recent: return "RECENT \(status.recentCount)"
                case .uidNext: return "UIDNEXT \(status.uidNext)"
                case .uidValidity: return "UIDVALIDITY \(status.uidValidity)"
                case .unseen: return "UNSEEN \(status.unseenCount)"
                }
            }
            out.untagged(Array("STATUS ".utf8) + IMAPWire.mailbox(name) + Array(" (\(values.joined(separator: " ")))".utf8))
            out.tagged(tag, .ok, "STATUS completed")
        } catch {
            respond(tag, error, &out)
        }
    }

    /// LIST/LSUB (RFC 3501 §6.3.8): the fixed mailboxes that match the
    /// pattern, with RFC 6154 attributes. "/" is the hierarchy delimiter
    /// though nothing has children.
    private func list(_ tag: String, reference: String, pattern: String, lsub: Bool, account: any MailAccount,
                      _ out: inout SessionOutput) {
        list(tag, reference: reference, patterns: [pattern], lsub: lsub, onlySpecialUse: false, account: account, &out)
    }

    private func list(_ tag: String, reference: String, patterns: [String], lsub: Bool, onlySpecialUse: Bool,
                      account: any MailAccount, _ out: inout SessionOutput) {
        let verb = lsub ? "LSUB" : "LIST"
        if patterns == [""], !lsub {
            out.untagged("LIST (\\Noselect) \"/\" \"\"")
        } else {
            let matching = account.mailboxes().filter { info in
                (!onlySpecialUse || info.specialUse != nil) && patterns.contains { MailboxPattern.matches(reference + $0, info.name) }
            }
            for info in matching {
                var attributes = ["\\HasNoChildren"]
                if let special = info.specialUse { attributes.append(special) }
                out.untagged(Array("\(verb) (\(attributes.joined(separator: " "))) \"/\" ".utf8) + IMAPWire.mailbox(info.name))
            }
        }
        out.tagged(tag, .ok, "\(verb) completed")
    }

    /// A store failure as a tagged NO with the RFC 5530 code that fits.
    func respond(_ tag: String, _ error: MailStoreError, _ out: inout SessionOutput) {
        switch error {
        case .noSuchMailbox(let name):
            out.tagged(tag, .no, code: "NONEXISTENT", "No mailbox named \(MailboxPattern.printable(name))")
        case .noSuchMessage:
            out.tagged(tag, .no, "No such message")
        case .notAllowed(let why):
            out.tagged(tag, .no, code: "CANNOT", why)
        case .io(let why):
            logger.error("mailbox operation failed", metadata: ["error": "\(why)"])
            out.tagged(tag, .no, code: "UNAVAILABLE", "Temporary failure, try again later")
        }
    }

    func respond(_ tag: String, _ error: any Error, _ out: inout SessionOutput) {
        respond(tag, error as? MailStoreError ?? .io("\(error)"), &out)
    }
}

/// LIST patterns (RFC 3501 §6.3.8): "*" matches anything, "%" anything
/// but the delimiter; INBOX matches case-insensitively.
enum MailboxPattern {
    static func matches(_ pattern: String, _ name: String) -> Bool {
        let target = name == "INBOX" ? "INBOX" : name
        let pattern = pattern.uppercased().hasPrefix("INBOX") && name == "INBOX"
            ? "INBOX" + pattern.dropFirst(5) : pattern
        return match(Array(pattern.unicodeScalars), Array(target.unicodeScalars))
    }

    /// Wildcard matching by dynamic programming: linear in pattern ×
    /// name, whatever the client puts in the pattern.
    private static func match(_ pattern: [Unicode.Scalar], _ name: [Unicode.Scalar]) -> Bool {
        // matched[j]: the pattern so far matches name's first j scalars.
        var matched = [Bool](repeating: false, count: name.count + 1)
        matched[0] = true
        for symbol in pattern {
            var next = [Bool](repeating: false, count: name.count + 1)
            if symbol == "*" || symbol == "%" {
                for j in 0...name.count {
                    next[j] = matched[j] || (j > 0 && next[j - 1] && (symbol == "*" || name[j - 1] != "/"))
                }
            } else {
                for j in 1...max(1, name.count) where j <= name.count {
                    next[j] = matched[j - 1] && name[j - 1] == symbol
                }
            }
            matched = next
        }
        return matched[name.count]
    }

    /// A client's mailbox name for a reply text: printable ASCII only.
    static func printable(_ name: String) -> String {
        String(String.UnicodeScalarView(name.unicodeScalars.prefix(100).map { $0.isASCII && $0.value >= 32 && $0.value < 127 ? $0 : "?" }))
    }
}
