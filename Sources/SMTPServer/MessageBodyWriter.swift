import MailMessage
import MailQueue
import NIOCore
import Policy
import SMTPCore

/// Streams a message body into its spool, prepending the Received line and
/// adding Message-ID and Date when the client left them out (RFC 5322
/// §3.6: Date is required; Message-ID should be present). The header
/// section is held in memory (bounded) until its end is seen; the rest is
/// passed straight through. That is also where the policy's header rules
/// and the edits decided before DATA (e.g. Received-SPF) are applied.
struct MessageBodyWriter {
    let spool: Spool
    private let receivedLine: String
    private let messageIDDomain: String
    private let maxHeaderBytes: Int
    private let rewriter: HeaderRewriter?
    private let edits: [HeaderEdit]
    /// The header section as written (trace fields included, without the
    /// empty line), for header edits decided after the body arrived.
    private(set) var writtenHeader: [UInt8]?
    /// The client's header section (after rewriting), for content checks.
    private(set) var headers = HeaderSection()
    /// The header section was larger than `maxHeaderBytes` and went through
    /// unparsed: header rules could not be applied to it.
    private(set) var headerOverflow = false
    private var headerBytes: [UInt8]? = []
    /// NUL, long lines and, for BDAT, bare CR/LF (DATA framing already
    /// guarantees CRLF pairs).
    private(set) var textCheck: MessageTextCheck
    /// What this writer put in the spool besides the client's octets (trace
    /// fields, a rewritten header section, Date, Message-ID) is plain too:
    /// with `textCheck.isPlain`, the first delivery sends the spooled
    /// octets without dot-stuffing them again (issue #15).
    private var addedPlain = true

    /// The spooled message needs no dot-stuffing (MessageTextCheck.isPlain).
    var isPlain: Bool { addedPlain && textCheck.isPlain }

    init(spool: Spool, receivedLine: String, messageIDDomain: String, maxHeaderBytes: Int,
         rewriter: HeaderRewriter? = nil, edits: [HeaderEdit] = [], chunked: Bool = false) {
        self.spool = spool
        textCheck = MessageTextCheck(checksLineEndings: chunked)
        self.receivedLine = receivedLine
        self.messageIDDomain = messageIDDomain
        self.maxHeaderBytes = maxHeaderBytes
        self.rewriter = rewriter
        self.edits = edits
    }

    /// Our Received line with the prepended fields above it.
    private var traceBytes: [UInt8] {
        HeaderRewriter.render(HeaderSection(fields: edits.prependedFields)) + Array(receivedLine.utf8)
    }

    /// `plainLongest`: the framing found `buffer` to be whole plain lines,
    /// the longest this long (SMTPFrameDecoder.plainContentLongest).
    mutating func append(_ buffer: ByteBuffer, plainLongest: Int? = nil) {
        buffer.withUnsafeReadableBytes { raw in
            if let plainLongest {
                textCheck.scanPlain(raw, longest: plainLongest)
            } else {
                textCheck.scan(raw)
            }
            var offset = 0
            while headerBytes != nil && offset < raw.count {
                offset += appendHeaderPart(UnsafeRawBufferPointer(rebasing: raw[offset...]))
            }
            if offset < raw.count { spool.append(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
        }
    }

    /// Takes a part of `raw` into the held header section and returns how
    /// much. A read can bring the header section and 64 KiB of body at
    /// once: the parts grow from 4 KiB, so the body after the header
    /// section goes to the spool without passing through `headerBytes`
    /// (issue #15).
    private mutating func appendHeaderPart(_ raw: UnsafeRawBufferPointer) -> Int {
        let step = min(raw.count, max(4096, headerBytes!.count))
        headerBytes!.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[..<step]))
        if let length = HeaderSection.headerBlockLength(in: headerBytes!, isComplete: false) {
            writeHeaders(blockLength: length)
        } else if headerBytes!.count > maxHeaderBytes {
            // Not a header section we can make sense of: pass it on untouched.
            headerOverflow = true
            let trace = traceBytes
            addedPlain = addedPlain && Self.isPlain(trace)
            spool.append(trace)
            spool.append(headerBytes!)
            headerBytes = nil
        }
        return step
    }

    /// The message is complete; returns the spool ready to commit.
    mutating func finish() -> Spool {
        if let bytes = headerBytes {
            let length = HeaderSection.headerBlockLength(in: bytes, isComplete: true) ?? bytes.count
            writeHeaders(blockLength: length)
        }
        return spool
    }

    private mutating func writeHeaders(blockLength: Int) {
        guard let bytes = headerBytes else { return }
        headerBytes = nil
        let block = bytes[..<blockLength]
        let parsed = HeaderSection(parsing: block)
        var headers = rewriter?.rewrite(parsed) ?? parsed
        let inPlace = edits.inPlace
        if !inPlace.isEmpty { headers = HeaderRewriter.apply(inPlace, to: headers) }
        var header = traceBytes
        if headers == parsed {
            // Untouched: the client's octets exactly (DKIM signatures survive).
            header += block
            if block.last != UInt8(ascii: "\n") && !block.isEmpty { header += Array("\r\n".utf8) }
        } else {
            header += HeaderRewriter.render(headers)
        }
        if !headers.contains("Date") {
            header += Array("Date: \(MessageDate.string(from: .now))\r\n".utf8)
        }
        if !headers.contains("Message-ID") {
            header += Array("Message-ID: \(MessageID.generate(uniquePart: spool.id.description, domain: messageIDDomain))\r\n".utf8)
        }
        addedPlain = addedPlain && Self.isPlain(header)
        spool.append(header)
        writtenHeader = header
        self.headers = headers
        if blockLength == bytes.count {
            // No empty line followed (headers only): end the header section.
            spool.append("\r\n")
        } else {
            let rest = bytes[blockLength...]
            // A body with no empty line before it gets one (RFC 5322 §2.1).
            if rest.first != UInt8(ascii: "\r") && rest.first != UInt8(ascii: "\n") { spool.append("\r\n") }
            rest.withUnsafeBytes { spool.append($0) }
        }
    }

    private static func isPlain(_ bytes: [UInt8]) -> Bool {
        var longest = 0
        return bytes.withUnsafeBytes {
            LineEndSearch.plainLines(in: $0, from: 0, to: $0.count, maxLineLength: MessageTextCheck.maxLineLength,
                                     longest: &longest) == $0.count
        }
    }
}
