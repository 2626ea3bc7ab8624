import Policy

/// Renders a header field the way RFC 5322 §2.2.3 asks: lines of at most
/// 78 characters where the text allows, folded at spaces, CRLF at the end.
enum HeaderFolding {
    static func field(name: String, value: String) -> String {
        var lines: [String] = []
        var line = name + ":"
        // No control character survives, so a value can never start a new
        // field or end the header section (header injection).
        let clean = String(String.UnicodeScalarView(value.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
        for word in clean.split(separator: " ", omittingEmptySubsequences: true) {
            if line.utf8.count + 1 + word.utf8.count > 78, line.utf8.count > name.utf8.count + 1 {
                lines.append(line)
                // Folding only puts CRLF before existing white space (RFC 5322
                // §2.2.3), so unfolding gives back the value as it was.
                line = " " + word
            } else {
                line += " " + word
            }
        }
        lines.append(line)
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// The `.prepend` edits rendered as fields: each one goes on top of what
    /// is there, so the last one comes first (as with trace fields, RFC 5321
    /// §4.4).
    static func prepended(_ edits: [HeaderEdit]) -> String {
        edits.reversed().reduce(into: "") { text, edit in
            if case .prepend(let name, let value) = edit { text += field(name: name, value: value) }
        }
    }
}
