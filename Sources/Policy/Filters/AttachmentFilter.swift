import Foundation
import MailMessage
import SMTPCore

/// `[attachments]`: refuses a message when any part — however deeply
/// nested, inside multiparts or encapsulated message/rfc822 messages — is
/// named with a blocked extension or has a blocked content type.
///
/// Names are the ones the MIME parser decoded (RFC 2231 §4, RFC 2047), and
/// every candidate is tested (Content-Disposition filename and Content-Type
/// name, RFC 2231 and plain forms), since readers differ on which they use.
/// The extension is the last one as Windows sees it: "a.pdf.exe" is .exe,
/// and trailing dots and spaces ("evil.exe. ") do not hide it.
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
        for filename in part.filenameCandidates {
            for candidate in Self.namesToTest(filename) {
                guard let ext = MIMEPart.fileExtension(of: candidate), extensions.contains(ext) else { continue }
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

    /// The name, and the name cut at its first control character (a NUL
    /// ends the name for C-based readers: "evil.exe\0.txt").
    static func namesToTest(_ filename: String) -> [String] {
        guard let control = filename.unicodeScalars.firstIndex(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            return [filename]
        }
        return [filename, String(filename.unicodeScalars[..<control])]
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
