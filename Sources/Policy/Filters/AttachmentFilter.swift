import Foundation
import MailMessage
import SMTPCore

/// `[attachments]`: refuses a message when any part — however deeply
/// nested, inside multiparts or encapsulated message/rfc822 messages, even
/// transfer-encoded ones — is named with a blocked extension or has a
/// blocked content type, or when a file with a blocked extension is carried
/// inside a body (uuencode or yEnc in text, an attachment of a TNEF
/// winmail.dat), as mail readers show those too.
///
/// Names are the ones the MIME parser decoded (RFC 2231 §4, RFC 2047), and
/// every reading a reader could take is tested: filename and name on every
/// Content-Disposition and Content-Type field, RFC 2231 and plain forms,
/// repeated parameters and sections. The extension is the last one as
/// Windows sees it: "a.pdf.exe" is .exe, and trailing dots and spaces
/// ("evil.exe. ") do not hide it. A structure the parser cannot read the
/// way every reader would (see `ambiguity(in:)`) is refused outright.
public struct AttachmentFilter: PolicyFilter {
    public let name = "attachments"
    public let phases: Set<PolicyPipeline.Phase> = [.content]
    public let rules: AttachmentRules
    /// Lowercased, without a leading dot.
    private let extensions: Set<String>
    /// Lowercased "type/subtype".
    private let contentTypes: Set<String>

    public init(rules: AttachmentRules) {
        self.rules = rules
        extensions = Set(rules.blockedExtensions.map { entry in
            let lowered = entry.lowercased().trimmingCharacters(in: .whitespaces)
            return lowered.hasPrefix(".") ? String(lowered.dropFirst()) : lowered
        }.filter { !$0.isEmpty })
        contentTypes = Set(rules.blockedContentTypes.map { $0.lowercased().trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty })
    }

    public func content(_ session: SessionFacts, _ message: MessageFacts, content: ReceivedContent) async -> PolicyVerdict {
        guard !extensions.isEmpty || !contentTypes.isEmpty else { return .continue }
        let parsed: MIMEMessage
        if let bytes = content.bytes {
            parsed = MIMEParser.parse(bytes)
        } else if let path = content.path {
            do {
                parsed = try MIMEParser.parse(contentsOfFile: path)
            } catch {
                return Self.localError(note: error.description)
            }
        } else {
            return Self.localError(note: "no message content to check")
        }
        return check(parsed)
    }

    /// The verdict for a parsed message: the first blocked part refuses it
    /// (554 5.7.1, RFC 3463 §3.8: delivery not authorized, message refused).
    public func check(_ message: MIMEMessage) -> PolicyVerdict {
        guard !extensions.isEmpty || !contentTypes.isEmpty else { return .continue }
        for part in message.parts {
            if let refusal = refusal(for: part) { return refusal }
        }
        // Parts past the parser's limits were not looked at; a message built
        // to hide an attachment that way is refused too.
        let unchecked: [MIMEDefect] = [.nestingTooDeep, .tooManyParts]
        if message.parts.contains(where: { part in part.defects.contains(where: unchecked.contains) }) {
            let text = "Message refused: too many or too deeply nested MIME parts to check attachments"
            return .reject(554, EnhancedStatusCode(5, 7, 1), text, note: text)
        }
        return PolicyVerdict(.continue, note: "\(message.parts.count) MIME part(s), none blocked")
    }

    private func refusal(for part: MIMEPart) -> PolicyVerdict? {
        if let defect = Self.ambiguity(in: part) {
            let text = "Ambiguous MIME structure: \(defect) in part \(part.pathString)"
            return .reject(554, EnhancedStatusCode(5, 7, 1), text, note: text)
        }
        for filename in part.filenameCandidates + part.embeddedFileNames {
            for candidate in Self.namesToTest(filename) {
                guard let ext = Self.extensions(of: candidate).first(where: extensions.contains) else { continue }
                return Self.refuse(label: Self.quoted(filename), reason: ".\(ext) files are not accepted")
            }
        }
        let mimeType = part.contentType.mimeType
        if contentTypes.contains(mimeType) {
            let label = part.filename.map(Self.quoted) ?? "in part \(part.pathString)"
            return Self.refuse(label: label, reason: "\(mimeType) is not accepted")
        }
        return nil
    }

    /// A defect after which readers may see parts or names the parser did
    /// not: a multipart split differently (no boundary, two boundaries, two
    /// Content-Type fields, a transfer-encoded multipart, RFC 2045 §6.4),
    /// a body decoded differently (two Content-Transfer-Encoding fields),
    /// or names past a limit (parameters, RFC 2231 sections, header
    /// section, embedded names, an unreadable TNEF property list).
    static func ambiguity(in part: MIMEPart) -> MIMEDefect? {
        part.defects.first { defect in
            switch defect {
            case .missingBoundary, .conflictingField, .tooManyParameters, .tooManySections,
                 .tooManyEmbeddedNames, .unreadableTNEF, .headerTooLong:
                true
            case .conflictingParameter(let name):
                name == "boundary"
            case .encodedContainer:
                // A transfer-encoded message/rfc822 is decoded and checked.
                part.contentType.isMultipart || part.children.isEmpty
            default:
                false
            }
        }
    }

    /// The name; the name cut at its first control character (a NUL ends
    /// the name for C-based readers: "evil.exe\0.txt"); and the name
    /// without format characters (bidi overrides, zero-width spaces),
    /// which readers that sanitise a name before saving drop.
    static func namesToTest(_ filename: String) -> [String] {
        var names = [filename]
        if let control = filename.unicodeScalars.firstIndex(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            names.append(String(filename.unicodeScalars[..<control]))
        }
        let visible = filename.unicodeScalars.filter { $0.properties.generalCategory != .format }
        if visible.count != filename.unicodeScalars.count {
            names.append(String(String.UnicodeScalarView(visible)))
        }
        return names
    }

    /// The longest file name file systems keep (NTFS, ext4: 255); readers
    /// shorten a longer one, possibly just after any of its dots.
    static let longestFileName = 255

    /// The name's extension; for a name too long to be kept whole, the
    /// text after each of its dots too ("a…a.exe.b…b.txt" may be cut to
    /// "a…a.exe").
    static func extensions(of name: String) -> [String] {
        let last = MIMEPart.fileExtension(of: name)
        guard name.count > longestFileName else { return last.map { [$0] } ?? [] }
        let inner = name.split(separator: ".").dropFirst().compactMap { MIMEPart.fileExtension(of: "x." + $0) }
        return (last.map { [$0] } ?? []) + inner
    }

    static func refuse(label: String, reason: String) -> PolicyVerdict {
        let text = "Attachment \(label) refused: \(reason)"
        return .reject(554, EnhancedStatusCode(5, 7, 1), text, note: text)
    }

    static func localError(note: String) -> PolicyVerdict {
        .tempfail(451, EnhancedStatusCode(4, 3, 0), "Local error while checking attachments", note: note)
    }

    /// `"name"` made safe for a reply line: printable ASCII only (RFC 5321
    /// §4.2: reply text), quotes and backslashes replaced, at most 80 characters.
    static func quoted(_ name: String) -> String {
        var safe = ""
        for scalar in name.unicodeScalars.prefix(80) {
            let printable = scalar.value >= 0x20 && scalar.value < 0x7F && scalar != "\"" && scalar != "\\"
            safe.unicodeScalars.append(printable ? scalar : "?")
        }
        if name.unicodeScalars.count > 80 { safe += "..." }
        return "\"\(safe)\""
    }
}
