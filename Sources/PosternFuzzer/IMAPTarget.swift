// The IMAP command grammar (issue #14's first step) over whatever a client
// sends. Invariants: the decoder gives the same frames fed byte by byte as
// fed at once; a parsed command's tag is the line's first word; a parse
// error with a tag names that tag; small limits hold (no literal over its
// limit becomes part of a command).
import Foundation
import IMAPCore
import NIOCore

enum IMAPTarget {
    static let limits: IMAPLimits = {
        var limits = IMAPDefaults.limits
        limits.maxLiteralSize = 256
        limits.maxLineLength = 512
        limits.maxCommandSize = 2048
        return limits
    }()

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var whole = ByteBuffer(bytes: bytes)
        var decoder = IMAPFrameDecoder(limits: limits)
        let atOnce = frames(&whole, &decoder)

        var dripDecoder = IMAPFrameDecoder(limits: limits)
        var drip: [IMAPFrame] = []
        var buffer = ByteBuffer()
        for byte in bytes where !dripDecoder.isStopped {
            buffer.writeInteger(byte)
            drip += frames(&buffer, &dripDecoder)
        }
        invariant(drip == atOnce, "byte by byte: \(drip), at once: \(atOnce)")

        for frame in atOnce {
            guard case .command(let line) = frame else { continue }
            invariant(line.readableBytes <= limits.maxCommandSize + limits.maxLineLength, "command of \(line.readableBytes) octets")
            let firstWord = String(decoding: line.readableBytesView.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
            do {
                let command = try IMAPCommandParser.parse(line, limits: limits)
                invariant(command.tag == firstWord, "tag \(command.tag) of a line starting \(firstWord)")
            } catch {
                if let tag = error.tag { invariant(tag == firstWord, "error tag \(tag) of a line starting \(firstWord)") }
                _ = error.text
            }
            _ = try? IMAPCommandParser.parseIdleDone(line)
            _ = try? IMAPCommandParser.parseAuthenticationResponse(line)
        }
    }

    static func frames(_ buffer: inout ByteBuffer, _ decoder: inout IMAPFrameDecoder) -> [IMAPFrame] {
        var out: [IMAPFrame] = []
        while let frame = decoder.next(&buffer) { out.append(frame) }
        return out
    }
}

// IMAP message rendering and SEARCH over any message. Invariants:
// - ENVELOPE, BODY and BODYSTRUCTURE are well-formed response data, and
//   BODY is BODYSTRUCTURE without its extension data;
// - every part BODYSTRUCTURE lists has the size (and for text and
//   message/rfc822 the line count) of the BODY[part] octets served for it;
// - BODY[] is the served message, HEADER followed by TEXT, for the message
//   and for every attached message; served octets hold no NUL or bare LF;
// - partials are slices of their section;
// - NOT inverts every key, keys that need no contents ignore the message,
//   and a message is found by its own subject and header field names.
enum IMAPMessageTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let message = IMAPMessage(Array(bytes))
        let served = message.bytes
        invariant(!served.contains(0), "NUL served")
        for index in served.indices where served[index] == UInt8(ascii: "\n") {
            invariant(index > 0 && served[index - 1] == UInt8(ascii: "\r"), "bare LF served at \(index)")
        }
        invariant(message.section(SectionSpec()) == served && message.size == served.count, "BODY[] is not the message")
        invariant(message.section(SectionSpec(text: .header)) + message.section(SectionSpec(text: .text)) == served,
                  "HEADER + TEXT is not the message")
        let envelope = read(message.envelope(), "ENVELOPE")
        invariant(envelope.map { if case .list(let items) = $0 { items.count == 10 } else { false } } ?? false,
                  "ENVELOPE has not 10 fields")
        guard let structure = read(message.bodyStructure(extensible: true), "BODYSTRUCTURE"),
              let body = read(message.bodyStructure(extensible: false), "BODY") else { return }
        invariant(withoutExtensions(structure) == body, "BODY \(body) is not BODYSTRUCTURE \(structure) without extensions")
        if isMultipart(structure) { visit(structure, [], message) } else { visit(structure, [1], message) }

        let whole = message.section(SectionSpec())
        for (offset, length) in [(0, 1), (3, 7), (whole.count / 2, 5), (whole.count, 1)] {
            let slice = IMAPMessage.partial(whole, Partial(offset: UInt32(offset), length: UInt32(length)))
            invariant(slice == Array(whole.dropFirst(offset).prefix(length)), "partial <\(offset).\(length)>")
        }
        search(message)
    }

    static func read(_ bytes: [UInt8], _ name: String) -> IMAPData? {
        do {
            return try IMAPData.read(bytes)
        } catch {
            invariant(false, "\(name) malformed: \(error) in \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            return nil
        }
    }

    static func isMultipart(_ node: IMAPData) -> Bool {
        if case .list(let items) = node, case .list? = items.first { return true }
        return false
    }

    static func string(_ node: IMAPData?) -> String? {
        if case .string(let bytes)? = node { return String(decoding: bytes, as: UTF8.self).lowercased() }
        return nil
    }

    /// body-type-mpart keeps its parts and subtype; a single part keeps
    /// body-fields, and the envelope, body and lines of message/rfc822 or
    /// the lines of text (RFC 3501 §9).
    static func withoutExtensions(_ node: IMAPData) -> IMAPData {
        guard case .list(let items) = node else { return node }
        if isMultipart(node) {
            let parts = items.prefix { if case .list = $0 { true } else { false } }
            return .list(parts.map(withoutExtensions) + items.dropFirst(parts.count).prefix(1))
        }
        switch (string(items.first), string(items.dropFirst().first)) {
        case ("message", "rfc822"?), ("message", "global"?):
            var kept = Array(items.prefix(10))
            if kept.count > 8 { kept[8] = withoutExtensions(kept[8]) }
            return .list(kept)
        case ("text", _): return .list(Array(items.prefix(8)))
        default: return .list(Array(items.prefix(7)))
        }
    }

    /// Checks the part at `path` and those below it against their sections.
    static func visit(_ node: IMAPData, _ path: [UInt32], _ message: IMAPMessage) {
        guard case .list(let items) = node, path.count < 64 else { return }
        if isMultipart(node) {
            let parts = items.prefix { if case .list = $0 { true } else { false } }
            for (index, child) in parts.enumerated() { visit(child, path + [UInt32(index + 1)], message) }
            return
        }
        let octets = message.section(SectionSpec(part: path))
        invariant(items.count > 6 && items[6] == .number(UInt64(octets.count)),
                  "part \(path) size \(items.count > 6 ? items[6].description : "-") for \(octets.count) octets")
        let lines = UInt64(octets.count { $0 == UInt8(ascii: "\n") })
        switch (string(items.first), string(items.dropFirst().first)) {
        case ("message", "rfc822"?), ("message", "global"?):
            invariant(items.count > 9 && items[9] == .number(lines), "part \(path) lines")
            let header = message.section(SectionSpec(part: path, text: .header))
            let text = message.section(SectionSpec(part: path, text: .text))
            if !header.isEmpty || !text.isEmpty {
                invariant(header + text == octets, "part \(path): HEADER + TEXT is not the message")
            }
            if items.count > 8 {
                visit(items[8], isMultipart(items[8]) ? path : path + [1], message)
            }
        case ("text", _):
            invariant(items.count > 7 && items[7] == .number(lines), "part \(path) lines")
        default:
            break
        }
    }

    static func search(_ message: IMAPMessage) {
        let candidate = SearchCandidate(sequenceNumber: 2, uid: 7, flags: [.seen, .keyword("$x")], recent: true,
                                        size: message.size, internalDate: Date(timeIntervalSince1970: 1_800_000_000))
        func matches(_ key: SearchKey, _ message: IMAPMessage?) -> Bool {
            SearchEvaluator.matches(key, candidate, message: message, largestSequence: 9, largestUID: 9)
        }
        let header = message.header()
        var keys: [SearchKey] = [
            .all, .new, .old, .unseen, .keyword("$X"), .larger(10), .smaller(100),
            .since(IMAPDate(year: 2027, month: 1, day: 15)), .sentBefore(IMAPDate(year: 2000, month: 1, day: 1)),
            .sentOn(IMAPDate(year: 2027, month: 1, day: 15)), .body("a"), .text("e"), .from("@"), .to(""),
            .uid(SequenceSet([SequenceRange(.number(5), .last)])), .sequenceSet(SequenceSet([SequenceRange(.last)])),
        ]
        for field in header.fields.prefix(8) {
            keys.append(.header(field: field.name, value: ""))
            keys.append(.header(field: field.name, value: String(field.decodedValue.prefix(12))))
            keys.append(.text(String(field.decodedValue.suffix(6))))
        }
        if let subject = header.decodedValue("Subject"), !subject.isEmpty { keys.append(.subject(subject)) }
        for key in keys {
            let found = matches(key, message)
            invariant(matches(.not(key), message) == !found, "NOT \(key)")
            if !SearchEvaluator.needsContents(key) {
                invariant(matches(key, nil) == found, "\(key) depends on the message")
            }
            if case .header(_, let value) = key, value.isEmpty { invariant(found, "\(key) not found") }
            if case .subject = key { invariant(found, "own \(key) not found") }
        }
    }
}
