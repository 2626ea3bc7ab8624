import MailMessage

/// One stored message as FETCH and SEARCH see it (RFC 3501 §6.4.5, §7.4.2):
/// its octets, parsed once into MIME parts by `MIMEParser`, so that
/// BODYSTRUCTURE, the sections it numbers and the text SEARCH reads all
/// come from the same tree the content policy looked at.
///
/// Parsing never fails: bad MIME is read the way `MIMEParser` reads it
/// (missing boundaries, unterminated multiparts, bare LF), nesting stops at
/// `MIMELimits.maxDepth` (32) and parts at `maxParts` (1000), so the work
/// and the size of every rendering are bounded by the message's size.
public struct IMAPMessage: Sendable {
    /// The octets served: the stored message with bare LF made CRLF and
    /// NUL made 0x80 (IMAP text is CRLF and CHAR8 has no NUL, RFC 3501
    /// §4.3; Dovecot does the same). A file stored with CRLF and no NUL
    /// is served unchanged.
    public let bytes: [UInt8]
    let mime: MIMEMessage

    public init(_ bytes: [UInt8]) {
        self.bytes = Self.served(bytes)
        mime = MIMEParser.parse(self.bytes)
    }

    /// RFC822.SIZE: octets of `bytes` (the file's size when it was stored
    /// with CRLF line ends and no NUL).
    public var size: Int { bytes.count }

    /// The message's header fields (RFC 5322 §2.2).
    public func header() -> HeaderSection { mime.root.headers }

    /// The <offset.length> slice of a section's octets (RFC 3501 §6.4.5):
    /// empty when the offset is past the end, shorter when the length is.
    public static func partial(_ bytes: [UInt8], _ partial: Partial?) -> [UInt8] {
        guard let partial else { return bytes }
        let start = Int(partial.offset)
        guard start < bytes.count else { return [] }
        let end = start + min(Int(partial.length), bytes.count - start)
        return Array(bytes[start..<end])
    }

    /// The stored octets with bare LF made CRLF and NUL made 0x80: BODY[]
    /// without a MIME parse.
    public static func served(_ bytes: [UInt8]) -> [UInt8] {
        var clean = true
        var previous: UInt8 = 0
        for byte in bytes {
            if byte == 0 || (byte == UInt8(ascii: "\n") && previous != UInt8(ascii: "\r")) {
                clean = false
                break
            }
            previous = byte
        }
        if clean { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 32)
        previous = 0
        for byte in bytes {
            if byte == UInt8(ascii: "\n"), previous != UInt8(ascii: "\r") { out.append(UInt8(ascii: "\r")) }
            out.append(byte == 0 ? 0x80 : byte)
            previous = byte
        }
        return out
    }

    /// Octets of `range`, clamped to the message.
    func slice(_ range: Range<Int>) -> ArraySlice<UInt8> {
        let lower = min(max(range.lowerBound, 0), bytes.count)
        let upper = min(max(range.upperBound, lower), bytes.count)
        return bytes[lower..<upper]
    }

    /// Lines of a body: its LF octets, as Dovecot counts them (a last
    /// line without a line break is not counted).
    func lineCount(_ part: MIMEPart) -> Int {
        slice(part.bodyRange).reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
    }
}

extension MIMEPart {
    /// The encapsulated message of a message/rfc822 (or message/global)
    /// part whose octets are its body as stored. A transfer-encoded one is
    /// parsed by `MIMEParser` from its decoded body, which IMAP cannot
    /// number into, so it is left opaque here, as Dovecot leaves it.
    var servedMessage: MIMEPart? {
        guard contentType.isEncapsulatedMessage, transferEncoding.isIdentity else { return nil }
        return children.first
    }

    /// The body parts of a multipart; RFC 3501 §9 wants at least one
    /// (`body-type-mpart = 1*body`), so one without any (no boundary, no
    /// delimiter) has an empty text/plain part, as Dovecot shows it.
    var servedParts: [MIMEPart] {
        children.isEmpty ? [MIMEPart(path: path + [1], bodyRange: bodyRange.upperBound..<bodyRange.upperBound)] : children
    }
}

extension HeaderField {
    /// The value's octets as they arrived: unfolded (CR and LF removed,
    /// RFC 5322 §2.2.3), white space around it trimmed, encoded words and
    /// 8-bit octets left as they are. ENVELOPE and BODYSTRUCTURE carry
    /// these, not decoded text.
    var rawValueBytes: [UInt8] {
        guard let original = originalBytes, let colon = original.firstIndex(of: UInt8(ascii: ":")) else {
            return Array(value.utf8)
        }
        let unfolded = original[(colon + 1)...].filter { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = unfolded.firstIndex(where: { !isSpace($0) }),
              let last = unfolded.lastIndex(where: { !isSpace($0) }) else { return [] }
        return Array(unfolded[first...last])
    }
}
