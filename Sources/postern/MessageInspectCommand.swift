import ArgumentParser
import Foundation
import MailMessage

/// `postern message …`: look at a message the way Postern's policy does.
struct MessageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "message",
        abstract: "Look at messages the way Postern's policy sees them.",
        subcommands: [MessageInspect.self])
}

/// `postern message inspect FILE [--json]`: the decoded header fields and
/// the MIME tree that the policy's header and attachment rules match
/// against, so an operator can see why a rule matched (or did not).
///
/// Text output is a header block, then one line per part, indented by
/// depth; defects follow their part's line after "!", and the header of an
/// encapsulated message (message/rfc822) follows its part after "|".
/// Control and bidirectional-formatting characters are shown escaped
/// (`\r`, `\u{202E}`), so a name cannot disguise itself on the terminal.
///
/// `--json` prints one object. Every key is always present (null or [] when
/// empty), keys are sorted, and the shape is stable for scripts:
///
///     {
///       "from": string|null, "to": string|null, "cc": string|null,
///       "subject": string|null, "date": string|null, "messageId": string|null,
///                                    // RFC 2047-decoded; repeated To/Cc joined by ", "
///       "size": int,                 // octets parsed
///       "parts": [ part ]            // one element: the root part
///     }
///     part = {
///       "path": "1.3.1",             // root "1"; n-th child of p is "p.n"
///       "contentType": "text/plain", // lowercased type/subtype (defaulted if absent/invalid)
///       "charset": string|null,      // lowercased charset parameter
///       "transferEncoding": "base64",
///       "disposition": string|null,  // "attachment", "inline", … ("" if the field had no type)
///       "filename": string|null,     // Content-Disposition filename, else Content-Type name
///       "filenames": [string],       // every candidate name (RFC 2231, plain, repeated)
///       "decodedSize": int,          // leaves: after transfer decoding; containers: body octets
///       "defects": [string],
///       "message": header|null,      // message/rfc822 parts: the encapsulated message's
///                                    //   {from, to, cc, subject, date, messageId}
///       "children": [ part ]
///     }
struct MessageInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a message's decoded header fields and MIME tree.",
        discussion: "FILE is a message as stored (RFC 5322, CRLF or LF line ends); \"-\" reads standard input.")

    @Argument(help: "The message file, or - for standard input.")
    var file: String

    @Flag(help: "Print a JSON object instead of text.")
    var json = false

    func run() throws {
        let message: MIMEMessage
        do {
            message = try file == "-" ? Self.parseStandardInput() : MIMEParser.parse(contentsOfFile: file)
        } catch {
            FileHandle.standardError.write(Data("postern: \(error)\n".utf8))
            throw ExitCode.failure
        }
        if json {
            print(try InspectJSON.render(message))
        } else {
            print(InspectText.render(message), terminator: "")
        }
    }

    private static func parseStandardInput() throws -> MIMEMessage {
        var parser = MIMEParser()
        while let chunk = try FileHandle.standardInput.read(upToCount: 64 * 1024), !chunk.isEmpty {
            parser.feed(chunk)
        }
        return parser.finish()
    }
}

// MARK: - Text

private enum InspectText {
    static func render(_ message: MIMEMessage) -> String {
        var out = ""
        for (label, value) in headerLines(message) {
            out += label.padding(toLength: 12, withPad: " ", startingAt: 0) + (value.map(escape) ?? "-") + "\n"
        }
        out += "Size:       \(message.size) bytes\n\n"
        // Depth first without recursion: the tree depth is bounded anyway,
        // but an explicit stack keeps the output code as safe as the parser.
        var pending: [MIMEPart] = [message.root]
        while let part = pending.popLast() {
            let indent = String(repeating: "  ", count: part.path.count - 1)
            out += indent + describe(part) + "\n"
            for defect in part.defects {
                out += indent + "  ! \(defect)\n"
            }
            if let inner = part.encapsulatedMessage {
                for (label, value) in headerLines(inner) where value != nil {
                    out += indent + "  | " + label + " " + escape(value ?? "") + "\n"
                }
            }
            pending.append(contentsOf: part.children.reversed())
        }
        return out
    }

    private static func headerLines(_ message: MIMEMessage) -> [(String, String?)] {
        [("From:", message.from), ("To:", message.to), ("Cc:", message.cc), ("Subject:", message.subject),
         ("Date:", message.date), ("Message-ID:", message.messageID)]
    }

    private static func describe(_ part: MIMEPart) -> String {
        var fields = [part.pathString, part.contentType.mimeType]
        if let charset = part.charset { fields.append("charset=\(escape(charset))") }
        fields.append("encoding=\(escape(part.transferEncoding.name))")
        if let disposition = part.disposition {
            fields.append("disposition=\(disposition.type.isEmpty ? "\"\"" : escape(disposition.type))")
        }
        let names = part.filenameCandidates
        if let first = names.first {
            fields.append("filename=" + quote(first))
            for other in names.dropFirst() { fields.append("also=" + quote(other)) }
        }
        fields.append("size=\(part.decodedSize)")
        return fields.joined(separator: " ")
    }

    private static func quote(_ text: String) -> String {
        "\"" + escape(text).replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Controls, DEL, and Unicode format characters (bidi overrides, zero
    /// width joiners) become visible escapes.
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
                    || scalar.properties.generalCategory == .format {
                    out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

// MARK: - JSON

private enum InspectJSON {
    static func render(_ message: MIMEMessage) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(Report(message))
        return String(decoding: data, as: UTF8.self)
    }

    private struct Header: Encodable {
        var from, to, cc, subject, date, messageId: String?

        init(_ message: MIMEMessage) {
            from = message.from
            to = message.to
            cc = message.cc
            subject = message.subject
            date = message.date
            messageId = message.messageID
        }

        // Explicit, so that absent values are written as null, not left out.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(from, forKey: .from)
            try container.encode(to, forKey: .to)
            try container.encode(cc, forKey: .cc)
            try container.encode(subject, forKey: .subject)
            try container.encode(date, forKey: .date)
            try container.encode(messageId, forKey: .messageId)
        }

        enum CodingKeys: String, CodingKey {
            case from, to, cc, subject, date, messageId
        }
    }

    private struct Report: Encodable {
        var header: Header
        var size: Int
        var root: Part

        init(_ message: MIMEMessage) {
            header = Header(message)
            size = message.size
            root = Part(message.root)
        }

        func encode(to encoder: any Encoder) throws {
            try header.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(size, forKey: .size)
            try container.encode([root], forKey: .parts)
        }

        enum CodingKeys: String, CodingKey {
            case size, parts
        }
    }

    /// Built and encoded recursively; the parser caps depth (MIMELimits.maxDepth).
    private struct Part: Encodable {
        var part: MIMEPart

        init(_ part: MIMEPart) {
            self.part = part
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(part.pathString, forKey: .path)
            try container.encode(part.contentType.mimeType, forKey: .contentType)
            try container.encode(part.charset, forKey: .charset)
            try container.encode(part.transferEncoding.name, forKey: .transferEncoding)
            try container.encode(part.disposition?.type, forKey: .disposition)
            try container.encode(part.filename, forKey: .filename)
            try container.encode(part.filenameCandidates, forKey: .filenames)
            try container.encode(part.decodedSize, forKey: .decodedSize)
            try container.encode(part.defects.map(\.description), forKey: .defects)
            try container.encode(part.encapsulatedMessage.map(Header.init), forKey: .message)
            try container.encode(part.children.map(Part.init), forKey: .children)
        }

        enum CodingKeys: String, CodingKey {
            case path, contentType, charset, transferEncoding, disposition, filename, filenames
            case decodedSize, defects, message, children
        }
    }
}
