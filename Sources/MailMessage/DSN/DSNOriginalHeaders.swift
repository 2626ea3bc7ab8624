/// The original message's header section as a DSN returns it (RFC 3462
/// `text/rfc822-headers`): every line up to the empty line that ends the
/// section, or up to the first line that is not a header field (a body
/// that starts without the empty line is not returned either).
///
/// Bounded: at most `limit` octets are read. A longer section is cut before
/// the field that crosses the limit, so no field is returned half-folded.
/// The lines are made safe to send: CRLF endings, a stray CR or NUL becomes
/// a space, and a line over 998 octets is folded (RFC 5322 §2.1.1).
struct DSNOriginalHeaders {
    /// The header lines, each ending in CRLF; empty when there are none.
    private(set) var bytes: [UInt8] = []
    /// The section was longer than the limit and was cut.
    private(set) var isTruncated = false
    /// Some byte is not ASCII (RFC 6532 UTF-8 headers).
    var isEightBit: Bool { bytes.contains { $0 >= 0x80 } }

    init(message: some Collection<UInt8>, limit: Int) {
        var lines: [[UInt8]] = []
        /// Index in `lines` of the first line of the last field.
        var lastFieldStart = 0
        var line: [UInt8] = []
        var scanned = 0
        var reachedEnd = true

        func accept(_ line: [UInt8]) -> Bool {
            var content = line[...]
            if content.last == UInt8(ascii: "\r") { content = content.dropLast() }
            guard !content.isEmpty, MIMEParser.isHeaderLine(content, limits: MIMEDefaults.limits) else { return false }
            let isContinuation = content.first == UInt8(ascii: " ") || content.first == UInt8(ascii: "\t")
            if isContinuation, lines.isEmpty { return false }
            if !isContinuation { lastFieldStart = lines.count }
            lines.append(Array(content))
            return true
        }

        for byte in message {
            scanned += 1
            if scanned > limit {
                reachedEnd = false
                // Cut before the field the limit falls in: the last one if
                // this line continues it, else none.
                let continues = line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t")
                if continues { lines.removeSubrange(lastFieldStart...) }
                isTruncated = true
                line = []
                break
            }
            if byte == UInt8(ascii: "\n") {
                if !accept(line) { line = []; reachedEnd = false; break }
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(byte)
            }
        }
        // A message that is all header, without a final line break.
        if reachedEnd, !line.isEmpty { _ = accept(line) }

        for line in lines {
            Self.appendSafe(line, to: &bytes)
        }
    }

    /// Appends `line` with CRLF, folding it every 998 octets at a UTF-8
    /// character boundary.
    private static func appendSafe(_ line: [UInt8], to out: inout [UInt8]) {
        var start = 0
        var room = DSNFormat.maxLineLength
        while line.count - start > room {
            var cut = start + room
            while cut > start + 1, line[cut] & 0xC0 == 0x80 { cut -= 1 } // not inside a character
            appendCleaned(line[start..<cut], to: &out)
            out.append(contentsOf: DSNFormat.crlf)
            out.append(UInt8(ascii: " "))
            start = cut
            room = DSNFormat.maxLineLength - 1
        }
        appendCleaned(line[start...], to: &out)
        out.append(contentsOf: DSNFormat.crlf)
    }

    private static func appendCleaned(_ bytes: ArraySlice<UInt8>, to out: inout [UInt8]) {
        for byte in bytes {
            out.append(byte == UInt8(ascii: "\r") || byte == 0 ? UInt8(ascii: " ") : byte)
        }
    }
}
