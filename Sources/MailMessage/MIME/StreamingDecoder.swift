/// A transfer-encoding decoder (RFC 2045 §6) fed in chunks split anywhere,
/// then finished; the body counter streams through one, whole texts go
/// through `decodeAll`.
public protocol StreamingDecoder: Sendable {
    init()
    mutating func decode(_ bytes: some Sequence<UInt8>, into out: inout [UInt8])
    mutating func finish(into out: inout [UInt8])
}

extension StreamingDecoder {
    /// Decodes a whole text at once.
    public static func decodeAll(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var decoder = Self()
        var out: [UInt8] = []
        decoder.decode(bytes, into: &out)
        decoder.finish(into: &out)
        return out
    }
}
