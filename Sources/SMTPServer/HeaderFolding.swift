/// Renders a header field the way RFC 5322 §2.2.3 asks: lines of at most
/// 78 characters where the text allows, folded at spaces, CRLF at the end.
enum HeaderFolding {
    static func field(name: String, value: String) -> String {
        var lines: [String] = []
        var line = name + ":"
        for word in value.split(separator: " ", omittingEmptySubsequences: true) {
            if line.utf8.count + 1 + word.utf8.count > 78, line.utf8.count > name.utf8.count + 1 {
                lines.append(line)
                line = "\t" + word
            } else {
                line += " " + word
            }
        }
        lines.append(line)
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}
