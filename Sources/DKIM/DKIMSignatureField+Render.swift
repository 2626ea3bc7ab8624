import Foundation

extension DKIMSignatureField {
    /// Lines are folded to stay under this many octets (RFC 5322 §2.1.1's 78).
    static let lineLength = 76

    /// The whole field, `DKIM-Signature: v=1; …` folded with CRLF + TAB and
    /// ending in CRLF. b= comes last and its folding lies inside its value,
    /// so the field with b= emptied (what is signed, §3.7) is this text up
    /// to "b=" whatever the signature is.
    public var rendered: String {
        var tags: [(String, String)] = [
            ("v", "1"), ("a", algorithm.rawValue),
            ("c", "\(headerCanonicalization.rawValue)/\(bodyCanonicalization.rawValue)"),
            ("d", domain), ("s", selector),
        ]
        if let identity { tags.append(("i", identity)) }
        if let timestamp { tags.append(("t", String(timestamp))) }
        if let expiration { tags.append(("x", String(expiration))) }
        if let bodyLength { tags.append(("l", String(bodyLength))) }
        var lines: [String] = []
        var line = "\(Self.fieldName):"
        func add(_ text: String) {
            if line.utf8.count + 1 + text.utf8.count > Self.lineLength {
                lines.append(line)
                line = "\t" + text
            } else {
                line += " " + text
            }
        }
        for (name, value) in tags { add("\(name)=\(value);") }
        // h= folds before a colon (FWS is allowed around each, §3.5).
        for (index, name) in signedHeaders.enumerated() {
            let piece = (index == 0 ? "h=" : ":") + name + (index == signedHeaders.count - 1 ? ";" : "")
            if index == 0 || line.utf8.count + piece.utf8.count > Self.lineLength {
                add(piece)
            } else {
                line += piece
            }
        }
        add("bh=\(Data(bodyHash).base64EncodedString());")
        lines.append(line)
        line = "\tb="
        var signatureText = Substring(Data(signature).base64EncodedString())
        while !signatureText.isEmpty {
            let room = Self.lineLength - line.utf8.count
            line += signatureText.prefix(room)
            signatureText = signatureText.dropFirst(room)
            if !signatureText.isEmpty {
                lines.append(line)
                line = "\t"
            }
        }
        lines.append(line)
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}
