// The MIME parser (RFC 2045/2046) and the quoted-printable and base64
// decoders it streams leaf bodies through. Invariants:
// - parsing in chunks gives the same tree as parsing at once;
// - the tree stays within its limits, paths and body ranges nest;
// - a leaf's decoded size is what decoding its body range at once gives,
//   never more than the encoding allows, and its decoder defect agrees;
// - the decoders give the same bytes fed in pieces as fed whole;
// - a transfer-encoded message/rfc822 holds what its decoded body parses
//   to (its parts checked as above against the decoded body), and the
//   names found in bodies (uuencode, yEnc, TNEF) stay within their limits.
import MailMessage

enum MIMETarget {
    /// Small limits, so that short inputs reach every limit's code path.
    static let limits: MIMELimits = {
        var limits = MIMELimits()
        limits.maxDepth = 6
        limits.maxParts = 40
        limits.maxHeaderBytes = 2048
        limits.maxBoundaryLineLength = 80
        limits.maxParameters = 8
        limits.maxParameterSections = 8
        limits.maxEncodedMessageDepth = 2
        limits.maxEmbeddedNames = 4
        limits.maxEmbeddedNameLength = 32
        limits.maxEmbeddedNameTail = 8
        return limits
    }()

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let input = Array(bytes)
        let message = MIMEParser.parse(input, limits: limits)
        invariant(message.size == input.count, "size \(message.size) for \(input.count) octets")

        let chunkSize = chunkSize(for: input)
        var parser = MIMEParser(limits: limits)
        for start in stride(from: 0, to: input.count, by: chunkSize) {
            parser.feed(input[start..<min(input.count, start + chunkSize)])
        }
        invariant(parser.finish() == message, "parsing in \(chunkSize)-octet chunks gives another tree")

        let parts = message.parts
        invariant(parts.count <= limits.maxParts, "\(parts.count) parts, limit \(limits.maxParts)")
        invariant(message.root.path == [1], "root path \(message.root.path)")
        // Each part with the bytes its body range refers to: the input, or
        // below a transfer-encoded message/rfc822, that part's decoded body.
        var pending = [(message.root, input)]
        while let next = pending.popLast() {
            let (part, bytes) = next
            check(part, in: bytes)
            let childBytes = hasDecodedChildren(part)
                ? decodeBody(Array(bytes[part.bodyRange]), part.transferEncoding) : bytes
            pending += part.children.map { ($0, childBytes) }
        }
        checkDecoders(input, chunkSize: chunkSize)
    }

    /// A chunk size that varies with the input, so both short and long
    /// pieces (and splits inside CRLF and delimiters) are exercised.
    static func chunkSize(for input: [UInt8]) -> Int {
        let sum = input.prefix(64).reduce(0) { ($0 &* 31 &+ Int($1)) & 0xFFFF }
        return 1 + sum % 97
    }

    static func check(_ part: MIMEPart, in input: [UInt8]) {
        let label = "part \(part.pathString)"
        invariant(part.path.count <= limits.maxDepth + 1, "\(label) deeper than \(limits.maxDepth)")
        invariant(part.bodyRange.lowerBound >= 0 && part.bodyRange.upperBound <= input.count,
                  "\(label) body \(part.bodyRange) outside \(input.count) octets")
        var previousEnd = part.bodyRange.lowerBound
        for (index, child) in part.children.enumerated() {
            invariant(child.path == part.path + [index + 1], "\(label) child \(index) has path \(child.path)")
            guard !hasDecodedChildren(part) else { continue }
            invariant(child.bodyRange.lowerBound >= previousEnd && child.bodyRange.upperBound <= part.bodyRange.upperBound,
                      "\(label) child \(child.pathString) body \(child.bodyRange) outside \(part.bodyRange) or overlapping")
            previousEnd = child.bodyRange.upperBound
        }
        if part.contentType.isEncapsulatedMessage {
            invariant(part.children.count <= 1, "\(label) message/rfc822 with \(part.children.count) children")
        }
        for parameters in [part.contentType.parameters, part.disposition?.parameters ?? MIMEParameters()] {
            invariant(parameters.all.count <= limits.maxParameters, "\(label) keeps \(parameters.all.count) parameters")
        }
        for field in part.headers.fields {
            _ = field.decodedValue
        }
        _ = part.filenameCandidates
        _ = part.filenameExtension
        invariant(part.embeddedFileNames.count <= limits.maxEmbeddedNames,
                  "\(label) \(part.embeddedFileNames.count) embedded names")
        for name in part.embeddedFileNames {
            invariant(name.unicodeScalars.count <= limits.maxEmbeddedNameLength + limits.maxEmbeddedNameTail,
                      "\(label) embedded name of \(name.unicodeScalars.count) characters")
        }

        let body = input[part.bodyRange]
        if isContainer(part) {
            invariant(part.decodedSize == body.count, "\(label) container size \(part.decodedSize) for \(body.count) octets")
            return
        }
        switch part.transferEncoding {
        case .base64:
            var decoder = Base64.Decoder()
            let decoded = decodeAll(body, with: &decoder)
            invariant(part.decodedSize == decoded.count, "\(label) base64 size \(part.decodedSize), whole body decodes to \(decoded.count)")
            invariant(decoded.count <= (body.count * 3 + 3) / 4, "\(label) base64 grew \(body.count) to \(decoded.count)")
            invariant(part.defects.contains(.invalidBase64) == decoder.sawGarbage, "\(label) base64 defect disagrees")
        case .quotedPrintable:
            var decoder = QuotedPrintable.Decoder()
            let decoded = decodeAll(body, with: &decoder)
            invariant(part.decodedSize == decoded.count, "\(label) QP size \(part.decodedSize), whole body decodes to \(decoded.count)")
            invariant(decoded.count <= body.count, "\(label) QP grew \(body.count) to \(decoded.count)")
            invariant(part.defects.contains(.invalidQuotedPrintable) == decoder.sawInvalidEscape, "\(label) QP defect disagrees")
        case .sevenBit, .eightBit, .binary, .other:
            invariant(part.decodedSize == body.count, "\(label) size \(part.decodedSize) for \(body.count) octets")
        }
    }

    /// A message/rfc822 whose body was decoded before it was parsed.
    static func hasDecodedChildren(_ part: MIMEPart) -> Bool {
        !part.children.isEmpty && part.contentType.isEncapsulatedMessage && !part.transferEncoding.isIdentity
    }

    static func decodeBody(_ body: [UInt8], _ encoding: ContentTransferEncoding) -> [UInt8] {
        switch encoding {
        case .base64: Base64.decode(body)
        case .quotedPrintable: QuotedPrintable.decode(body)
        case .sevenBit, .eightBit, .binary, .other: body
        }
    }

    /// Multipart and message/rfc822 parts that were parsed as such: their
    /// size is the body as it is, whatever the transfer encoding says.
    static func isContainer(_ part: MIMEPart) -> Bool {
        if hasDecodedChildren(part) { return false }
        if !part.children.isEmpty { return true }
        guard part.contentType.isMultipart else { return false }
        return !part.defects.contains(.missingBoundary) && !part.defects.contains(.nestingTooDeep)
    }

    static func decodeAll<Decoder: StreamingDecoder>(_ bytes: ArraySlice<UInt8>, with decoder: inout Decoder) -> [UInt8] {
        var out: [UInt8] = []
        decoder.decode(bytes, into: &out)
        decoder.finish(into: &out)
        return out
    }

    /// The whole input through each decoder, at once and in pieces.
    static func checkDecoders(_ input: [UInt8], chunkSize: Int) {
        func pieces<Decoder: StreamingDecoder>(_ type: Decoder.Type) -> [UInt8] {
            var decoder = Decoder()
            var out: [UInt8] = []
            for start in stride(from: 0, to: input.count, by: chunkSize) {
                decoder.decode(input[start..<min(input.count, start + chunkSize)], into: &out)
            }
            decoder.finish(into: &out)
            return out
        }
        invariant(pieces(Base64.Decoder.self) == Base64.decode(input), "base64 in \(chunkSize)-octet pieces differs")
        invariant(pieces(QuotedPrintable.Decoder.self) == QuotedPrintable.decode(input), "QP in \(chunkSize)-octet pieces differs")
    }
}
