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
        let needsContents = attributes.contains { Self.needsContents($0) }
        let marksSeen = !selection.readOnly && attributes.contains { Self.marksSeen($0) }
        do {
            for index in resolve(set, byUID: byUID, selection.messages) {
                var message = selection.messages[index]
                var parsed: IMAPMessage?
                if needsContents {
                    do {
                        parsed = IMAPMessage(try await selection.view.contents(uid: message.uid))
                    } catch .noSuchMessage {
                        // Expunged by another session meanwhile: left out (RFC 2180 §4.1.3);
                        // this session hears of it at its next NOOP.
                        continue
                    }
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
                    items.append(item(attribute, message, parsed))
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

    static func needsContents(_ attribute: FetchAttribute) -> Bool {
        switch attribute {
        case .flags, .internalDate, .rfc822Size, .uid: return false
        case .envelope, .rfc822, .rfc822Header, .rfc822Text, .body, .bodyStructure, .bodySection: return true
        }
    }

    static func marksSeen(_ attribute: FetchAttribute) -> Bool {
        switch attribute {
        case .rfc822, .rfc822Text: return true
        case .bodySection(let peek, _, _): return !peek
        default: return false
        }
    }

    private func item(_ attribute: FetchAttribute, _ message: StoredMessage, _ parsed: IMAPMessage?) -> [UInt8] {
        switch attribute {
        case .uid: return Array("UID \(message.uid)".utf8)
        case .flags: return Array("FLAGS \(flagText(message))".utf8)
        case .internalDate: return Array("INTERNALDATE ".utf8) + IMAPWire.internalDate(message.internalDate)
        // The served octets (IMAPMessage turns a stray bare LF into CRLF),
        // else the file's size: both are the file's for what the store writes.
        case .rfc822Size: return Array("RFC822.SIZE \(parsed?.size ?? message.size)".utf8)
        case .envelope: return Array("ENVELOPE ".utf8) + (parsed?.envelope() ?? [])
        case .bodyStructure: return Array("BODYSTRUCTURE ".utf8) + (parsed?.bodyStructure(extensible: true) ?? [])
        case .body: return Array("BODY ".utf8) + (parsed?.bodyStructure(extensible: false) ?? [])
        case .rfc822: return Array("RFC822 ".utf8) + IMAPWire.literal(parsed?.section(SectionSpec()) ?? [])
        case .rfc822Header: return Array("RFC822.HEADER ".utf8) + IMAPWire.literal(parsed?.section(SectionSpec(text: .header)) ?? [])
        case .rfc822Text: return Array("RFC822.TEXT ".utf8) + IMAPWire.literal(parsed?.section(SectionSpec(text: .text)) ?? [])
        case .bodySection(_, let section, let partial):
            let whole = parsed?.section(section) ?? []
            let bytes = IMAPMessage.partial(whole, partial)
            return IMAPWire.sectionName(section, partial: partial) + [32] + IMAPWire.literal(bytes)
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
                        parsed = IMAPMessage(try await selection.view.contents(uid: message.uid))
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
