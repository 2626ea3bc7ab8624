/// Measures a leaf body's decoded size while it streams past, keeping none
/// of it: decoded bytes go to a scratch buffer that is counted, shown to
/// the inspector (if any) and emptied.
struct MIMEBodyCounter: Sendable {
    private enum Decoder: Sendable {
        case identity
        case quotedPrintable(QuotedPrintable.Decoder)
        case base64(Base64.Decoder)
    }

    private var decoder: Decoder
    private var scratch: [UInt8] = []
    private(set) var decodedSize = 0
    private var inspector: MIMEBodyInspector?

    init(encoding: ContentTransferEncoding, inspector: MIMEBodyInspector? = nil) {
        self.inspector = inspector
        switch encoding {
        case .quotedPrintable: decoder = .quotedPrintable(QuotedPrintable.Decoder())
        case .base64: decoder = .base64(Base64.Decoder())
        case .sevenBit, .eightBit, .binary, .other: decoder = .identity
        }
    }

    mutating func consume(_ bytes: some Collection<UInt8>) {
        switch decoder {
        case .identity:
            decodedSize += bytes.count
            inspector?.consume(bytes)
        case .quotedPrintable(var qp):
            decoder = .identity // keep `qp` uniquely referenced while it mutates
            qp.decode(bytes, into: &scratch)
            decoder = .quotedPrintable(qp)
            drainScratch()
        case .base64(var b64):
            decoder = .identity
            b64.decode(bytes, into: &scratch)
            decoder = .base64(b64)
            drainScratch()
        }
    }

    /// Ends the body; returns the defect the decoder saw, if any.
    mutating func finish() -> MIMEDefect? {
        switch decoder {
        case .identity:
            return nil
        case .quotedPrintable(var qp):
            qp.finish(into: &scratch)
            drainScratch()
            decoder = .identity
            return qp.sawInvalidEscape ? .invalidQuotedPrintable : nil
        case .base64(var b64):
            b64.finish(into: &scratch)
            drainScratch()
            decoder = .identity
            return b64.sawGarbage ? .invalidBase64 : nil
        }
    }

    /// Ends the inspection (after `finish`): what the inspector found.
    mutating func finishInspection() -> MIMEBodyInspector.Findings {
        inspector?.finish() ?? MIMEBodyInspector.Findings()
    }

    private mutating func drainScratch() {
        decodedSize += scratch.count
        inspector?.consume(scratch)
        scratch.removeAll(keepingCapacity: true)
    }
}
