import MailMessage

extension IMAPMessage {
    /// What SEARCH BODY looks in (RFC 3501 §6.4.4): every text/* part,
    /// transfer-decoded (quoted-printable, base64) and converted from its
    /// charset, and the header fields of attached messages, decoded.
    /// Attached messages sent base64 are searched in their decoded form.
    /// Other parts (images, archives) are not searched.
    func bodyTexts() -> [String] {
        var texts: [String] = []
        collectTexts(mime.root, in: bytes[...], isMessageTop: true, into: &texts)
        return texts
    }

    /// The message's header fields, each "Name: decoded value": what
    /// SEARCH TEXT looks in besides `bodyTexts()`.
    func headerText() -> String {
        Self.decodedText(of: mime.root.headers)
    }

    private static func decodedText(of headers: HeaderSection) -> String {
        headers.fields.map { "\($0.name): \($0.decodedValue)" }.joined(separator: "\n")
    }

    /// Depth-first over the parts below `part`, whose offsets are in
    /// `octets` (the message, or the decoded body of an encoded message/rfc822).
    private func collectTexts(_ part: MIMEPart, in octets: ArraySlice<UInt8>, isMessageTop: Bool, into texts: inout [String]) {
        if isMessageTop, part.path.count > 1 {
            texts.append(Self.decodedText(of: part.headers))
        }
        let type = part.contentType
        if type.isMultipart {
            for child in part.children { collectTexts(child, in: octets, isMessageTop: false, into: &texts) }
        } else if type.isEncapsulatedMessage, let nested = part.children.first {
            if part.transferEncoding.isIdentity {
                collectTexts(nested, in: octets, isMessageTop: true, into: &texts)
            } else {
                let decoded = Self.decode(Self.clamped(octets, part.bodyRange), part.transferEncoding)
                collectTexts(nested, in: decoded[...], isMessageTop: true, into: &texts)
            }
        } else if type.isText {
            let decoded = Self.decode(Self.clamped(octets, part.bodyRange), part.transferEncoding)
            texts.append(Charset.decode(decoded, charset: type.charset))
        }
    }

    /// A body's octets after its Content-Transfer-Encoding (RFC 2045 §6).
    static func decode(_ body: ArraySlice<UInt8>, _ encoding: ContentTransferEncoding) -> [UInt8] {
        switch encoding {
        case .quotedPrintable: QuotedPrintable.decode(body)
        case .base64: Base64.decode(body)
        default: Array(body)
        }
    }

    /// `range` of `octets` (which start at index 0), clamped to them.
    private static func clamped(_ octets: ArraySlice<UInt8>, _ range: Range<Int>) -> ArraySlice<UInt8> {
        let base = octets.startIndex
        let lower = min(max(range.lowerBound, 0), octets.count)
        let upper = min(max(range.upperBound, lower), octets.count)
        return octets[(base + lower)..<(base + upper)]
    }
}
