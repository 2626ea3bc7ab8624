/// One entity of a parsed message (RFC 2045 §2.4): its header fields, what
/// they say about the body, the body's decoded size, and its children — the
/// body parts of a multipart, or the one encapsulated message of a
/// message/rfc822 part. Bodies themselves are not kept; `bodyRange` says
/// where a body lies in the message's bytes so it can be read again.
public struct MIMEPart: Sendable, Equatable {
    /// Position in the tree: the root is [1]; the n-th child of the part
    /// at `p` is `p + [n]`. The encapsulated message of a message/rfc822
    /// part at `p` is its only child, `p + [1]`.
    public var path: [Int]
    /// This entity's own header fields. For the root of a message (or of an
    /// encapsulated one) these are the message's header fields.
    public var headers: HeaderSection
    /// Content-Type, or the RFC 2045 §5.2 / RFC 2046 §5.1.5 default when the
    /// field is missing or invalid.
    public var contentType: ContentType
    public var transferEncoding: ContentTransferEncoding
    public var disposition: ContentDisposition?
    /// Leaf parts: the body's size after transfer decoding. Multipart and
    /// message/rfc822 parts: the size of the body as it is (`bodyRange.count`).
    public var decodedSize: Int
    /// Offsets of the (still encoded) body within the parsed bytes, without
    /// the line break that belongs to the following boundary delimiter.
    /// Below a transfer-encoded message/rfc822 part, offsets within that
    /// part's decoded body.
    public var bodyRange: Range<Int>
    /// Offset of the entity's first header octet (the root: 0; a body
    /// part: just past its delimiter line; an encapsulated message: its
    /// part's body start), in the same octets as `bodyRange`. IMAP serves
    /// header sections by offset (RFC 3501 §6.4.5 HEADER, MIME).
    public var headerStart: Int
    public var children: [MIMEPart]
    /// What was wrong with this entity and worked around.
    public var defects: [MIMEDefect]
    /// Names of files carried inside this leaf's body, which readers list
    /// as attachments of their own: uuencode and yEnc "begin" lines in
    /// text, attachments of a TNEF winmail.dat (see `EmbeddedFileScanner`).
    public var embeddedFileNames: [String]

    public init(path: [Int], headers: HeaderSection = HeaderSection(),
                contentType: ContentType = MIMEDefaults.contentType,
                transferEncoding: ContentTransferEncoding = .sevenBit,
                disposition: ContentDisposition? = nil, decodedSize: Int = 0,
                bodyRange: Range<Int> = 0..<0, headerStart: Int? = nil, children: [MIMEPart] = [],
                defects: [MIMEDefect] = [], embeddedFileNames: [String] = []) {
        self.path = path
        self.headers = headers
        self.contentType = contentType
        self.transferEncoding = transferEncoding
        self.disposition = disposition
        self.decodedSize = decodedSize
        self.bodyRange = bodyRange
        self.headerStart = headerStart ?? bodyRange.lowerBound
        self.children = children
        self.defects = defects
        self.embeddedFileNames = embeddedFileNames
    }

    /// The header section's octets, the empty line that ends it included.
    /// Empty when a delimiter follows the delimiter line at once: the line
    /// break between them belongs to the second (RFC 2046 §5.1.1).
    public var headerRange: Range<Int> {
        headerStart..<max(headerStart, bodyRange.lowerBound)
    }

    /// `path` written as "1.2.3".
    public var pathString: String {
        path.map(String.init).joined(separator: ".")
    }

    /// The charset parameter, lowercased.
    public var charset: String? { contentType.charset }

    /// The name a mail reader would save this part under: Content-Disposition's
    /// filename, else Content-Type's name (RFC 2231 and RFC 2047 decoded).
    public var filename: String? {
        if let name = disposition?.filename, !name.isEmpty { return name }
        if let name = contentType.name, !name.isEmpty { return name }
        return nil
    }

    /// Every name this part could be saved under: filename and name on
    /// either field, RFC 2231 and plain forms, repeated parameters, and the
    /// names on a repeated Content-Disposition or Content-Type field.
    /// Readers pick differently, so an attachment rule should test each.
    public var filenameCandidates: [String] {
        var fields = [disposition?.parameters, contentType.parameters].compactMap { $0 }
        fields += headers.all("Content-Disposition").dropFirst().map { ContentDisposition(parsing: $0.value).parameters }
        fields += headers.all("Content-Type").dropFirst().map { ContentType.parameters(parsing: $0.value) }
        var names: [String] = []
        for parameters in fields {
            for parameter in [parameters.parameter("filename"), parameters.parameter("name")].compactMap({ $0 }) {
                for name in parameter.allDecodedValues where !name.isEmpty && !names.contains(name) {
                    names.append(name)
                }
            }
        }
        return names
    }

    /// The extension of `filename`, lowercased, as Windows would see it:
    /// directories ("/" or "\") dropped, trailing dots and spaces ignored.
    /// nil when there is no filename or it has no extension.
    public var filenameExtension: String? {
        filename.flatMap(Self.fileExtension(of:))
    }

    /// The extension of a file name as `filenameExtension` computes it.
    public static func fileExtension(of name: String) -> String? {
        var base = Substring(name)
        if let slash = base.lastIndex(where: { $0 == "/" || $0 == "\\" }) {
            base = base[base.index(after: slash)...]
        }
        while let last = base.last, last == "." || last == " " || last.unicodeScalars.allSatisfy({ $0.value < 0x20 }) {
            base = base.dropLast()
        }
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return nil }
        let ext = base[base.index(after: dot)...]
        return ext.isEmpty ? nil : ext.lowercased()
    }

    /// Disposition "attachment", or a filename given (which readers offer to save).
    public var isAttachment: Bool {
        disposition?.isAttachment == true || filename != nil
    }

    public var isMultipart: Bool { contentType.isMultipart }

    /// The encapsulated message of a message/rfc822 part, when it was parsed.
    public var encapsulatedMessage: MIMEMessage? {
        guard contentType.isEncapsulatedMessage, let inner = children.first else { return nil }
        return MIMEMessage(root: inner, size: bodyRange.count)
    }

    /// This part and all below it, depth first, parents before children.
    public var allParts: [MIMEPart] {
        var result: [MIMEPart] = []
        var pending: [MIMEPart] = [self]
        while let part = pending.popLast() {
            result.append(part)
            pending.append(contentsOf: part.children.reversed())
        }
        return result
    }

    /// The part at `path` below (or equal to) this one.
    public func part(at path: [Int]) -> MIMEPart? {
        guard path.starts(with: self.path) else { return nil }
        var current = self
        for index in path.dropFirst(self.path.count) {
            guard index >= 1, index <= current.children.count else { return nil }
            current = current.children[index - 1]
        }
        return current
    }
}
