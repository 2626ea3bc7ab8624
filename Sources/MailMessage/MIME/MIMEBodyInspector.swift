/// Reads a leaf body's decoded bytes for what a mail reader finds in them
/// beyond the MIME structure, while the body streams past:
/// - a transfer-encoded message/rfc822 (RFC 2046 §5.2.1 forbids it, readers
///   decode it anyway) is parsed as the message it decodes to;
/// - text, and bodies in the uuencode transfer encoding, are scanned for
///   uuencode and yEnc files (`UUEncodeScanner`);
/// - TNEF (winmail.dat) is scanned for its attachments' names (`TNEFScanner`).
enum MIMEBodyInspector: Sendable {
    case message(MIMEParser)
    case inlineFiles(UUEncodeScanner)
    case tnef(TNEFScanner)
    /// Placeholder while a payload is mutated (keeps it uniquely referenced).
    case idle

    /// What the inspection found, for the part.
    struct Findings: Sendable {
        var names: [String] = []
        var defects: [MIMEDefect] = []
        var message: MIMEMessage?
    }

    /// The inspector for a leaf with this type, name and encoding, if any.
    static func forLeaf(_ part: MIMEPart, limits: MIMELimits) -> MIMEBodyInspector? {
        if isTNEF(part) { return .tnef(TNEFScanner(limits: limits)) }
        if part.contentType.isText || isUUEncoding(part.transferEncoding) {
            return .inlineFiles(UUEncodeScanner(limits: limits))
        }
        return nil
    }

    /// application/ms-tnef or its vnd. form (RFC 2046 registration), or a
    /// part named winmail.dat, which some readers unpack whatever its type.
    static func isTNEF(_ part: MIMEPart) -> Bool {
        let type = part.contentType.mimeType
        return type == "application/ms-tnef" || type == "application/vnd.ms-tnef"
            || part.filenameCandidates.contains { $0.lowercased() == "winmail.dat" }
    }

    /// x-uuencode and its aliases, which readers decode as uuencode.
    static func isUUEncoding(_ encoding: ContentTransferEncoding) -> Bool {
        guard case .other(let name) = encoding else { return false }
        return ["x-uuencode", "uuencode", "x-uue", "uue"].contains(name)
    }

    mutating func consume(_ bytes: some Collection<UInt8>) {
        switch self {
        case .message(var parser):
            self = .idle
            parser.feed(bytes)
            self = .message(parser)
        case .inlineFiles(var scanner):
            self = .idle
            scanner.consume(bytes)
            self = .inlineFiles(scanner)
        case .tnef(var scanner):
            self = .idle
            scanner.consume(bytes)
            self = .tnef(scanner)
        case .idle:
            break
        }
    }

    mutating func finish() -> Findings {
        var findings = Findings()
        switch self {
        case .message(var parser):
            findings.message = parser.finish()
        case .inlineFiles(var scanner):
            scanner.finish()
            findings.names = scanner.found.names
            if scanner.found.sawTooMany { findings.defects.append(.tooManyEmbeddedNames) }
        case .tnef(var scanner):
            scanner.finish()
            findings.names = scanner.found.names
            if scanner.found.sawTooMany { findings.defects.append(.tooManyEmbeddedNames) }
            if scanner.sawUnreadableProperties { findings.defects.append(.unreadableTNEF) }
        case .idle:
            break
        }
        self = .idle
        return findings
    }
}
