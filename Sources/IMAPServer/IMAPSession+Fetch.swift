import Foundation
import IMAPCore
import MailStore

/// FETCH (RFC 3501 §6.4.5, §7.4.2) and SEARCH (§6.4.4).
extension IMAPSession {
    func fetch(_ tag: String, _ set: SequenceSet, _ requested: [FetchAttribute], byUID: Bool,
               _ out: inout SessionOutput) async {
        guard var selection else { return }
        var attributes = requested
        // UID FETCH always answers with the UID (RFC 3501 §6.4.8).
        if byUID, !attributes.contains(.uid) { attributes.insert(.uid, at: 0) }
        let need = ContentNeed(attributes)
        let marksSeen = !selection.readOnly && attributes.contains { Self.marksSeen($0) }
        do {
            for index in resolve(set, byUID: byUID, selection.messages) {
                var message = selection.messages[index]
                let content: MessageContent?
                do {
                    content = try await load(need, message, from: selection.view)
                } catch .noSuchMessage {
                    // Expunged by another session meanwhile: left out (RFC 2180 §4.1.3);
                    // this session hears of it at its next NOOP.
                    continue
                }
                var flagsChanged = false
                if marksSeen, !message.flags.contains(.seen) {
                    let flags = message.flags.union(.seen)
                    if let stored = try await selection.view.setFlags([message.uid: flags])[message.uid] {
                        message.flags = stored
                        selection.messages[index] = message
                        flagsChanged = true
                    }
                }
                var items: [[UInt8]] = []
                for attribute in attributes {
                    items.append(item(attribute, message, content))
                }
                // A fetch that set \Seen says so (RFC 3501 §6.4.5, BODY[]).
                if flagsChanged, !attributes.contains(.flags) {
                    items.append(Array("FLAGS \(flagText(message))".utf8))
                }
                out.untagged(Array("\(index + 1) FETCH (".utf8) + Array(items.joined(separator: [32])) + [UInt8(ascii: ")")])
            }
            setSelection(selection)
            out.tagged(tag, .ok, "\(byUID ? "UID FETCH" : "FETCH") completed")
        } catch {
            setSelection(selection)
            respond(tag, error, &out)
        }
    }

    /// How much of a message a FETCH needs: a header fetch (what mail
    /// clients list a mailbox with) reads the header only, a whole-message
    /// fetch skips the MIME parse; only structure and parts need the parse.
    enum ContentNeed: Equatable {
        case none, header, whole, parsed

        init(_ attributes: [FetchAttribute]) {
            self = attributes.reduce(.none) { need, attribute in Self.larger(need, Self.of(attribute)) }
        }

        static func of(_ attribute: FetchAttribute) -> ContentNeed {
            switch attribute {
            case .flags, .internalDate, .rfc822Size, .uid: return .none
            case .rfc822Header: return .header
            case .rfc822: return .whole
            case .bodySection(_, let section, _) where section.part.isEmpty:
                switch section.text {
                case .header, .headerFields, .headerFieldsNot: return .header
                case nil: return .whole
                case .text, .mime: return .parsed
                }
            case .envelope, .rfc822Text, .body, .bodyStructure, .bodySection: return .parsed
            }
        }

        private var rank: Int {
            switch self {
            case .none: return 0
            case .header: return 1
            case .whole: return 2
            case .parsed: return 3
            }
        }

        static func larger(_ a: ContentNeed, _ b: ContentNeed) -> ContentNeed { a.rank >= b.rank ? a : b }
    }

    /// What was read of one message: `parsed` is the whole message, or for
    /// a header fetch its header section alone; `whole` the octets served.
    struct MessageContent {
        var parsed: IMAPMessage
        var whole: [UInt8]?
    }

    /// A header section longer than this is read with the whole message.
    static let headerReadLimit = 64 * 1024

    func load(_ need: ContentNeed, _ message: StoredMessage,
              from view: any MailboxView) async throws(MailStoreError) -> MessageContent? {
        switch need {
        case .none:
            return nil
        case .header:
            let start = try await view.contents(uid: message.uid, limit: Self.headerReadLimit)
            if let end = Self.headerEnd(start) {
                return MessageContent(parsed: IMAPMessage(Array(start[..<end])), whole: nil)
            }
            return try await load(.parsed, message, from: view)
        case .whole:
            let served = IMAPMessage.served(try await view.contents(uid: message.uid))
            let header = Self.headerEnd(served).map { Array(served[..<$0]) } ?? served
            return MessageContent(parsed: IMAPMessage(header), whole: served)
        case .parsed:
            let parsed = IMAPMessage(try await view.contents(uid: message.uid))
            return MessageContent(parsed: parsed, whole: parsed.bytes)
        }
    }

    /// Octets through the blank line that ends the header section, if it is there.
    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10
            && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index + 4
        }
        return nil
    }

    static func marksSeen(_ attribute: FetchAttribute) -> Bool {
        switch attribute {
        case .rfc822, .rfc822Text: return true
        case .bodySection(let peek, _, _): return !peek
        default: return false
        }
    }

    private func item(_ attribute: FetchAttribute, _ message: StoredMessage, _ content: MessageContent?) -> [UInt8] {
        let parsed = content?.parsed
        let whole = content?.whole ?? []
        switch attribute {
        case .uid: return Array("UID \(message.uid)".utf8)
        case .flags: return Array("FLAGS \(flagText(message))".utf8)
        case .internalDate: return Array("INTERNALDATE ".utf8) + IMAPWire.internalDate(message.internalDate)
        // The served octets (IMAPMessage turns a stray bare LF into CRLF),
        // else the file's size: both are the file's for what the store writes.
        case .rfc822Size: return Array("RFC822.SIZE \(content?.whole?.count ?? message.size)".utf8)
        case .envelope: return Array("ENVELOPE ".utf8) + (parsed?.envelope() ?? [])
        case .bodyStructure: return Array("BODYSTRUCTURE ".utf8) + (parsed?.bodyStructure(extensible: true) ?? [])
        case .body: return Array("BODY ".utf8) + (parsed?.bodyStructure(extensible: false) ?? [])
        case .rfc822: return Array("RFC822 ".utf8) + IMAPWire.literal(whole)
        case .rfc822Header: return Array("RFC822.HEADER ".utf8) + IMAPWire.literal(parsed?.section(SectionSpec(text: .header)) ?? [])
        case .rfc822Text: return Array("RFC822.TEXT ".utf8) + IMAPWire.literal(parsed?.section(SectionSpec(text: .text)) ?? [])
        case .bodySection(_, let section, let partial):
            let bytes = section.part.isEmpty && section.text == nil ? whole : parsed?.section(section) ?? []
            return IMAPWire.sectionName(section, partial: partial) + [32] + IMAPWire.literal(IMAPMessage.partial(bytes, partial))
        }
    }

    // MARK: - SEARCH

    func search(_ tag: String, _ charset: String?, _ key: SearchKey, byUID: Bool, _ out: inout SessionOutput) async {
        guard let selection else { return }
        if let charset, !["UTF-8", "US-ASCII"].contains(charset) {
            out.tagged(tag, .no, code: "BADCHARSET (UTF-8 US-ASCII)", "Charset not supported")
            return
        }
        let needsContents = SearchEvaluator.needsContents(key)
        let largestUID = selection.messages.last?.uid ?? 0
        var found: [UInt32] = []
        do {
            for (index, message) in selection.messages.enumerated() {
                let candidate = SearchCandidate(sequenceNumber: UInt32(index + 1), uid: message.uid,
                                                flags: Self.imapFlags(message.flags), recent: message.recent,
                                                size: message.size, internalDate: message.internalDate)
                var parsed: IMAPMessage?
                if needsContents {
                    do {
                        parsed = try await load(.parsed, message, from: selection.view)?.parsed
                    } catch .noSuchMessage {
                        continue
                    }
                }
                if SearchEvaluator.matches(key, candidate, message: parsed,
                                           largestSequence: UInt32(selection.messages.count), largestUID: largestUID) {
                    found.append(byUID ? message.uid : UInt32(index + 1))
                }
            }
            out.untagged("SEARCH" + found.map { " \($0)" }.joined())
            out.tagged(tag, .ok, "\(byUID ? "UID SEARCH" : "SEARCH") completed")
        } catch {
            respond(tag, error, &out)
        }
    }
}
