/// Splits a message that arrives in chunks into its header section (kept,
/// up to `maxHeaderBytes`) and its body (passed on, never kept): the
/// signer and the verifier both read a message this way.
struct DKIMMessageSplitter: Sendable {
    enum Part {
        /// The header section is complete: every field, with its CRLF.
        case header([UInt8])
        case body(ArraySlice<UInt8>)
    }

    let maxHeaderBytes: Int
    private var header: [UInt8] = []
    private(set) var headerComplete = false

    init(maxHeaderBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// Feeds the next chunk of the message; `handle` sees the header once,
    /// then body slices. CRLF line ends are expected (the spool has them).
    mutating func feed(_ chunk: some Collection<UInt8>, _ handle: (Part) throws(DKIMError) -> Void) throws(DKIMError) {
        if headerComplete {
            try handle(.body(ArraySlice(chunk)))
            return
        }
        let searchFrom = max(0, header.count - 3)
        header += chunk
        // A message that starts with the empty line has no fields.
        if header.count >= 2 && header[0] == 0x0D && header[1] == 0x0A {
            try complete(fieldsEnd: 0, bodyStart: 2, handle)
            return
        }
        var index = searchFrom
        while index + 3 < header.count {
            if header[index] == 0x0D && header[index + 1] == 0x0A && header[index + 2] == 0x0D && header[index + 3] == 0x0A {
                try complete(fieldsEnd: index + 2, bodyStart: index + 4, handle)
                return
            }
            index += 1
        }
        if header.count > maxHeaderBytes { throw .message("header section longer than \(maxHeaderBytes) octets") }
    }

    /// The message ended: a header section without an empty line is all
    /// header and no body.
    mutating func finish(_ handle: (Part) throws(DKIMError) -> Void) throws(DKIMError) {
        guard !headerComplete else { return }
        try complete(fieldsEnd: header.count, bodyStart: header.count, handle)
    }

    private mutating func complete(fieldsEnd: Int, bodyStart: Int, _ handle: (Part) throws(DKIMError) -> Void) throws(DKIMError) {
        guard fieldsEnd <= maxHeaderBytes else { throw .message("header section longer than \(maxHeaderBytes) octets") }
        headerComplete = true
        let body = header[bodyStart...]
        let fields = Array(header[..<fieldsEnd])
        header = []
        try handle(.header(fields))
        if !body.isEmpty { try handle(.body(body)) }
    }
}
