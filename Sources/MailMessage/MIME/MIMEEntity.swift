/// An entity the parser has opened but not finished: the part being
/// built, and where in the entity the parser is.
struct MIMEEntity: Sendable {
    enum Phase: Sendable {
        /// Collecting header lines until the empty line.
        case header
        /// Counting a leaf body (see `counter`).
        case leaf
        /// Inside a multipart body, looking for its delimiters.
        case multipart(boundary: [UInt8], stage: MultipartStage)
        /// A message/rfc822 body: the encapsulated message is open above.
        case message
    }

    /// Where a multipart body is (RFC 2046 §5.1.1).
    enum MultipartStage: Sendable, Equatable {
        /// Before the first delimiter: ignored.
        case preamble
        /// A body part is open above this entity.
        case inPart
        /// Past `MIMELimits.maxParts`: lines ignored until the close-delimiter.
        case skipping
        /// After the close-delimiter: ignored.
        case epilogue
    }

    var part: MIMEPart
    var depth: Int
    var phase = Phase.header
    /// text/plain, or message/rfc822 inside multipart/digest.
    var defaultContentType: ContentType
    var headerBytes: [UInt8] = []
    var headerTruncated = false
    var counter: MIMEBodyCounter?
    /// Offset of the first body byte.
    var bodyStart: Int
    /// Parts of the message decoded from this (transfer-encoded
    /// message/rfc822) leaf, known once it is closed.
    var decodedPartCount = 0

    init(path: [Int], depth: Int, defaultContentType: ContentType, start: Int) {
        part = MIMEPart(path: path, contentType: defaultContentType, bodyRange: start..<start, headerStart: start)
        self.depth = depth
        self.defaultContentType = defaultContentType
        bodyStart = start
    }

    var boundary: [UInt8]? {
        if case .multipart(let boundary, let stage) = phase, stage != .epilogue { return boundary }
        return nil
    }

    /// Appends one header line (or a piece of a long one), up to the limit.
    mutating func appendHeader(_ content: ArraySlice<UInt8>, endsLine: Bool, limits: MIMELimits) {
        guard !headerTruncated else { return }
        guard headerBytes.count + content.count + 1 <= limits.maxHeaderBytes else {
            headerTruncated = true
            part.defects.append(.headerTooLong)
            return
        }
        headerBytes.append(contentsOf: content)
        if endsLine { headerBytes.append(UInt8(ascii: "\n")) }
    }

    /// Reads the finished header section into `part` and decides how the
    /// body will be read. Returns the encapsulated message's entity when
    /// the body is one and `mayOpenChild` allows it.
    mutating func finishHeader(bodyStart: Int, mayOpenChild: Bool, partCount: Int,
                               limits: MIMELimits) -> MIMEEntity? {
        let headers = HeaderSection(parsing: headerBytes)
        headerBytes = []
        self.bodyStart = bodyStart
        part.headers = headers
        readFields(headers, limits: limits)
        let contentType = part.contentType
        let encoding = part.transferEncoding

        if contentType.isMultipart || contentType.isEncapsulatedMessage {
            if !encoding.isIdentity { part.defects.append(.encodedContainer(encoding.name)) }
            if depth >= limits.maxDepth {
                part.defects.append(.nestingTooDeep)
                return startLeaf(encoding: encoding, limits: limits)
            }
        }
        if contentType.isMultipart {
            guard let boundary = contentType.boundary, !boundary.isEmpty else {
                part.defects.append(.missingBoundary)
                return startLeaf(encoding: encoding, limits: limits)
            }
            phase = .multipart(boundary: Array(boundary.utf8), stage: .preamble)
            return nil
        }
        if contentType.isEncapsulatedMessage, !encoding.isIdentity, mayOpenChild {
            return startEncodedMessage(encoding: encoding, partCount: partCount, limits: limits)
        }
        if contentType.isEncapsulatedMessage, encoding.isIdentity, mayOpenChild {
            guard partCount < limits.maxParts else {
                part.defects.append(.tooManyParts)
                return startLeaf(encoding: encoding, limits: limits)
            }
            phase = .message
            return MIMEEntity(path: part.path + [1], depth: depth + 1,
                              defaultContentType: MIMEDefaults.contentType, start: bodyStart)
        }
        return startLeaf(encoding: encoding, limits: limits)
    }

    private mutating func startLeaf(encoding: ContentTransferEncoding, limits: MIMELimits,
                                    inspector: MIMEBodyInspector? = nil) -> MIMEEntity? {
        if case .other(let name) = encoding {
            part.defects.append(.unknownTransferEncoding(name))
        }
        phase = .leaf
        counter = MIMEBodyCounter(encoding: encoding,
                                  inspector: inspector ?? MIMEBodyInspector.forLeaf(part, limits: limits))
        return nil
    }

    /// A message/rfc822 with a transfer encoding: a leaf whose decoded body
    /// is parsed as a message of its own, as readers do, within
    /// `maxEncodedMessageDepth` and the parts left under `maxParts`.
    private mutating func startEncodedMessage(encoding: ContentTransferEncoding, partCount: Int,
                                              limits: MIMELimits) -> MIMEEntity? {
        guard encoding == .base64 || encoding == .quotedPrintable else {
            return startLeaf(encoding: encoding, limits: limits)
        }
        guard limits.maxEncodedMessageDepth > 0 else {
            part.defects.append(.nestingTooDeep)
            return startLeaf(encoding: encoding, limits: limits)
        }
        guard partCount < limits.maxParts else {
            part.defects.append(.tooManyParts)
            return startLeaf(encoding: encoding, limits: limits)
        }
        var inner = limits
        inner.maxEncodedMessageDepth -= 1
        inner.maxParts = limits.maxParts - partCount
        let parser = MIMEParser(limits: inner, rootPath: part.path + [1], rootDepth: depth + 1)
        return startLeaf(encoding: encoding, limits: limits, inspector: .message(parser))
    }

    /// Content-Type, Content-Transfer-Encoding and Content-Disposition.
    private mutating func readFields(_ headers: HeaderSection, limits: MIMELimits) {
        for name in ["Content-Type", "Content-Transfer-Encoding", "Content-Disposition"] {
            let values = headers.all(name).map(\.value)
            guard values.count > 1 else { continue }
            part.defects.append(.repeatedField(name))
            // Every Content-Disposition's names are tested; the other two
            // decide the structure, so differing values are a defect.
            if name != "Content-Disposition", values.contains(where: { $0 != values[0] }) {
                part.defects.append(.conflictingField(name))
            }
        }
        if let field = headers.first("Content-Type") {
            if let contentType = ContentType(parsing: field.value, limits: limits) {
                part.contentType = contentType
            } else {
                part.defects.append(.invalidContentType(field.value))
                var fallback = MIMEDefaults.contentType
                let parameters = ContentType.parameters(parsing: field.value, limits: limits)
                if !parameters.isEmpty { fallback.parameters = parameters }
                part.contentType = fallback
            }
        } else {
            part.contentType = defaultContentType
        }
        part.transferEncoding = headers.first("Content-Transfer-Encoding")
            .map { ContentTransferEncoding(parsing: $0.value) } ?? .sevenBit
        part.disposition = headers.first("Content-Disposition").map {
            ContentDisposition(parsing: $0.value, limits: limits)
        }
        var conflicting = part.contentType.parameters.conflictingNames
        conflicting += part.disposition?.parameters.conflictingNames ?? []
        part.defects += conflicting.map(MIMEDefect.conflictingParameter)
        readOverflow(headers, limits: limits)
    }

    /// Parameters past the limits of any Content-Type or Content-Disposition
    /// field (repeated ones included): dropped unread, so recorded.
    private mutating func readOverflow(_ headers: HeaderSection, limits: MIMELimits) {
        var fields = [part.contentType.parameters, part.disposition?.parameters].compactMap { $0 }
        fields += headers.all("Content-Type").dropFirst().map { ContentType.parameters(parsing: $0.value, limits: limits) }
        fields += headers.all("Content-Disposition").dropFirst().map {
            ContentDisposition(parsing: $0.value, limits: limits).parameters
        }
        for parameters in fields {
            if parameters.droppedParameters, !part.defects.contains(.tooManyParameters) {
                part.defects.append(.tooManyParameters)
            }
            for name in parameters.truncatedNames where !part.defects.contains(.tooManySections(name)) {
                part.defects.append(.tooManySections(name))
            }
        }
    }

    /// Ends the entity at `end` (before the line break that precedes a
    /// delimiter, or the end of input) and returns the finished part.
    ///
    /// A delimiter right after the header section, or right after the
    /// entity's own delimiter line, takes the line break before it (RFC 2046
    /// §5.1.1), so `end` can lie before the body start: the body is then
    /// empty at `end`, inside the parent's body like every child's.
    mutating func close(end: Int, partCount: Int, limits: MIMELimits) -> MIMEPart {
        if case .header = phase {
            _ = finishHeader(bodyStart: end, mayOpenChild: false, partCount: partCount, limits: limits)
        }
        bodyStart = min(bodyStart, end)
        part.bodyRange = bodyStart..<end
        part.decodedSize = end - bodyStart
        switch phase {
        case .leaf:
            if var counter {
                if let defect = counter.finish() { part.defects.append(defect) }
                part.decodedSize = counter.decodedSize
                let findings = counter.finishInspection()
                part.embeddedFileNames = findings.names
                part.defects += findings.defects
                if let message = findings.message {
                    part.children = [message.root]
                    decodedPartCount = message.parts.count
                }
            }
            counter = nil
        case .multipart(_, let stage):
            switch stage {
            case .preamble: part.defects.append(.noParts)
            case .inPart, .skipping: part.defects.append(.unterminatedMultipart)
            case .epilogue: break
            }
        case .message, .header:
            break
        }
        return part
    }
}
