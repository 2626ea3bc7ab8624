import NIOCore

/// Parses a message (RFC 5322 + MIME, RFC 2045/2046) into a tree of
/// `MIMEPart`s while it streams past: feed it chunks of any size, then
/// `finish()`. Only header sections and one line are buffered, never a
/// body, so the spooled body of a large message can be parsed in place.
///
/// Parsing never fails and never traps on input: whatever is malformed is
/// worked around the way common mail readers do and recorded as a
/// `MIMEDefect` on the part. Depth, part count and buffers are bounded by
/// `MIMELimits`; the only recursion is into the decoded body of a
/// transfer-encoded message/rfc822, at most `maxEncodedMessageDepth` deep.
///
///     var parser = MIMEParser()
///     parser.feed(chunk)            // as often as needed
///     let message = parser.finish()
public struct MIMEParser: Sendable {
    public let limits: MIMELimits

    /// Open entities, the root first, the one receiving lines last.
    private var stack: [MIMEEntity]
    private var finishedRoot: MIMEPart?
    /// Parts opened so far, root included.
    private var partCount = 1
    /// The current line's bytes not yet dispatched (CR included).
    private var line: [UInt8] = []
    /// Earlier bytes of the current line were already dispatched (the line
    /// is longer than any boundary line can be).
    private var lineIsContinuation = false
    /// The rest of the current line is dropped (an mbox "From " line).
    private var isDiscardingLine = false
    /// Offset of the next byte to arrive, of the current line's start, and
    /// of the end of the previous line's content (before its line break).
    private var offset = 0
    private var lineStart = 0
    private var previousLineEnd = 0
    /// The previous body line's line break: part of the body only if the
    /// next line is not a delimiter (RFC 2046 §5.1.1: the CRLF preceding the
    /// boundary delimiter belongs to the delimiter).
    private var pendingLineBreak = Self.noBytes

    private static let noBytes: [UInt8] = []
    private static let crlf: [UInt8] = [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
    private static let lf: [UInt8] = [UInt8(ascii: "\n")]

    public init(limits: MIMELimits = MIMEDefaults.limits) {
        self.init(limits: limits, rootPath: [1], rootDepth: 0)
    }

    /// A parser for a message found inside another one's part (a decoded
    /// message/rfc822 body): its parts are numbered and nested below it.
    init(limits: MIMELimits, rootPath: [Int], rootDepth: Int) {
        self.limits = limits
        stack = [MIMEEntity(path: rootPath, depth: rootDepth, defaultContentType: MIMEDefaults.contentType, start: 0)]
    }

    /// Parses a complete message held in memory.
    public static func parse(_ bytes: some Sequence<UInt8>, limits: MIMELimits = MIMEDefaults.limits) -> MIMEMessage {
        var parser = MIMEParser(limits: limits)
        parser.feed(bytes)
        return parser.finish()
    }

    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            feed(UnsafeRawBufferPointer(buffer))
        }
        if handled == nil {
            Array(bytes).withUnsafeBytes { feed($0) }
        }
    }

    public mutating func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { feed($0) }
    }

    public mutating func feed(_ buffer: UnsafeRawBufferPointer) {
        var start = 0
        while start < buffer.count {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                line.append(contentsOf: buffer[start..<newline])
                offset += newline - start + 1
                endLine()
                start = newline + 1
            } else {
                line.append(contentsOf: buffer[start...])
                offset += buffer.count - start
                if line.count > longLineThreshold { dispatchLongLinePiece() }
                start = buffer.count
            }
        }
    }

    /// Ends the input: the last line (even without a line break) is
    /// processed and every open entity is closed at the end.
    public mutating func finish() -> MIMEMessage {
        if !line.isEmpty || lineIsContinuation {
            process(line[...], lineBreak: Self.noBytes, endsLine: true)
            line.removeAll()
            lineIsContinuation = false
            previousLineEnd = offset
        }
        if let top = stack.indices.last, case .leaf = stack[top].phase {
            stack[top].counter?.consume(pendingLineBreak) // no delimiter follows
        }
        while !stack.isEmpty {
            closeTop(end: offset)
        }
        let root = finishedRoot ?? MIMEPart(path: [1])
        return MIMEMessage(root: root, size: offset)
    }

    // MARK: Lines

    private mutating func endLine() {
        let hasCR = line.last == UInt8(ascii: "\r")
        let content = line[..<(hasCR ? line.count - 1 : line.count)]
        process(content, lineBreak: hasCR ? Self.crlf : Self.lf, endsLine: true)
        previousLineEnd = offset - (hasCR ? 2 : 1)
        line.removeAll(keepingCapacity: true)
        lineIsContinuation = false
        isDiscardingLine = false
        lineStart = offset
    }

    /// How long the current line may grow before it is passed on in pieces.
    /// Longer than any delimiter line (plus its CR), so a piece is never
    /// one; in a header section longer than the section may be, so a piece
    /// is classified (field or not) exactly as the whole line would be.
    private var longLineThreshold: Int {
        if let top = stack.last, case .header = top.phase {
            return max(limits.maxBoundaryLineLength, limits.maxHeaderBytes) + 1
        }
        return limits.maxBoundaryLineLength + 1
    }

    /// A line too long to be a delimiter: pass on what we have (keeping a
    /// final CR, which may begin the line break) and go on streaming it.
    private mutating func dispatchLongLinePiece() {
        let keepCR = line.last == UInt8(ascii: "\r")
        process(line[..<(keepCR ? line.count - 1 : line.count)], lineBreak: Self.noBytes, endsLine: false)
        line.removeAll(keepingCapacity: true)
        if keepCR { line.append(UInt8(ascii: "\r")) }
        lineIsContinuation = true
    }

    private mutating func process(_ content: ArraySlice<UInt8>, lineBreak: [UInt8], endsLine: Bool) {
        guard !isDiscardingLine else { return }
        if endsLine, !lineIsContinuation, content.count <= limits.maxBoundaryLineLength,
           let match = matchDelimiter(content) {
            handleDelimiter(match)
            return
        }
        dispatch(content, lineBreak: lineBreak, endsLine: endsLine)
    }

    /// Hands a line (or a piece of one) to the innermost open entity.
    private mutating func dispatch(_ content: ArraySlice<UInt8>, lineBreak: [UInt8], endsLine: Bool) {
        while let top = stack.indices.last {
            switch stack[top].phase {
            case .header:
                if !lineIsContinuation {
                    if endsLine, content.isEmpty { // the empty line ending the header section
                        finishHeader(bodyStart: offset)
                        return
                    }
                    if lineStart == 0, Self.isMboxFromLine(content) {
                        isDiscardingLine = true
                        return
                    }
                    if !Self.isHeaderLine(content, limits: limits) {
                        stack[top].part.defects.append(.missingHeaderBodySeparator)
                        finishHeader(bodyStart: lineStart)
                        continue // the line is the first of the body
                    }
                }
                stack[top].appendHeader(content, endsLine: endsLine, limits: limits)
            case .leaf:
                stack[top].counter?.consume(pendingLineBreak)
                stack[top].counter?.consume(content)
                pendingLineBreak = lineBreak
            case .multipart, .message:
                break // preamble, epilogue or skipped parts
            }
            return
        }
    }

    // MARK: Entities

    private mutating func finishHeader(bodyStart: Int) {
        guard let top = stack.indices.last else { return }
        let child = stack[top].finishHeader(bodyStart: bodyStart, mayOpenChild: true,
                                            partCount: partCount, limits: limits)
        if let child {
            stack.append(child)
            partCount += 1
        }
        pendingLineBreak = Self.noBytes
    }

    private mutating func closeTop(end: Int) {
        guard var entity = stack.popLast() else { return }
        let part = entity.close(end: end, partCount: partCount, limits: limits)
        partCount += entity.decodedPartCount
        if let parent = stack.indices.last {
            stack[parent].part.children.append(part)
        } else {
            finishedRoot = part
        }
        pendingLineBreak = Self.noBytes
    }

    /// A delimiter line and the open multipart (index in `stack`) it belongs to.
    private struct DelimiterMatch {
        var entityIndex: Int
        var isClose: Bool
    }

    /// delimiter := "--" boundary [ "--" ] *LWSP (RFC 2046 §5.1.1), for the
    /// innermost open multipart whose boundary fits; an outer boundary ends
    /// the inner multiparts too.
    private func matchDelimiter(_ content: ArraySlice<UInt8>) -> DelimiterMatch? {
        guard content.count >= 2, content.first == UInt8(ascii: "-"),
              content[content.startIndex + 1] == UInt8(ascii: "-") else { return nil }
        let afterDashes = content.dropFirst(2)
        for index in stack.indices.reversed() {
            guard let boundary = stack[index].boundary, afterDashes.starts(with: boundary) else { continue }
            var rest = afterDashes.dropFirst(boundary.count)
            let isClose = rest.starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")])
            if isClose { rest = rest.dropFirst(2) }
            if rest.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) {
                return DelimiterMatch(entityIndex: index, isClose: isClose)
            }
        }
        return nil
    }

    private mutating func handleDelimiter(_ match: DelimiterMatch) {
        while stack.count - 1 > match.entityIndex {
            closeTop(end: previousLineEnd)
        }
        let index = match.entityIndex
        guard case .multipart(let boundary, let stage) = stack[index].phase else { return }
        if match.isClose {
            if stage == .preamble { stack[index].part.defects.append(.noParts) }
            stack[index].phase = .multipart(boundary: boundary, stage: .epilogue)
        } else if partCount >= limits.maxParts {
            if stage != .skipping { stack[index].part.defects.append(.tooManyParts) }
            stack[index].phase = .multipart(boundary: boundary, stage: .skipping)
        } else {
            stack[index].phase = .multipart(boundary: boundary, stage: .inPart)
            let parent = stack[index]
            let defaultType = parent.part.contentType.subtype == "digest"
                ? MIMEDefaults.digestContentType : MIMEDefaults.contentType
            stack.append(MIMEEntity(path: parent.part.path + [parent.part.children.count + 1],
                                    depth: parent.depth + 1, defaultContentType: defaultType, start: offset))
            partCount += 1
        }
    }

    // MARK: Header lines

    /// A field line: ftext name (RFC 5322 §3.6.8), optional white space
    /// (obsolete syntax, §4.5), colon; or a folded continuation line.
    /// Only the first `maxHeaderBytes` octets are looked at, so that a line
    /// passed on in pieces is judged as it would be whole.
    static func isHeaderLine(_ line: ArraySlice<UInt8>, limits: MIMELimits) -> Bool {
        let content = line.prefix(limits.maxHeaderBytes)
        guard let first = content.first else { return false }
        if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { return true }
        var index = content.startIndex
        while index < content.endIndex, content[index] > 0x20, content[index] < 0x7F,
              content[index] != UInt8(ascii: ":") {
            index += 1
        }
        guard index > content.startIndex else { return false }
        while index < content.endIndex, content[index] == UInt8(ascii: " ") || content[index] == UInt8(ascii: "\t") {
            index += 1
        }
        return index < content.endIndex && content[index] == UInt8(ascii: ":")
    }

    /// The "From " line that starts a message in an mbox file.
    static func isMboxFromLine(_ content: ArraySlice<UInt8>) -> Bool {
        content.starts(with: Array("From ".utf8))
    }
}
