// The PROXY protocol header decoder (v1 text, v2 binary) over whatever the
// first octets of a connection are. Invariants:
// - fed byte by byte, it reads the same header (or stops at the same error,
//   after the same number of octets) as fed at once;
// - it waits for more only while fewer octets than the longest header are in,
//   so a connection cannot make the listener hold more;
// - a header takes what its own framing says: a v1 line ending in its first
//   CRLF within 107 octets, a v2 block of 16 + its length field;
// - a v1 TCP4 header reads back as the line it came from.
import NIOCore
import ProxyProtocol

enum ProxyTarget {
    struct Outcome: Equatable {
        var header: ProxyHeader?
        var error: ProxyHeaderError?
        var consumed = 0
    }

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let input = Array(bytes)
        var buffer = ByteBuffer(bytes: input)
        let whole = decode(&buffer)
        if whole.header == nil && whole.error == nil {
            invariant(input.count < ProxyHeaderDecoder.maxHeaderLength, "waits with \(input.count) octets in")
        }
        var drip = Outcome()
        var dripBuffer = ByteBuffer()
        for byte in input where drip.header == nil && drip.error == nil {
            dripBuffer.writeInteger(byte)
            drip = decode(&dripBuffer)
        }
        invariant(drip == whole, "byte by byte: \(drip), at once: \(whole)")
        guard let header = whole.header else { return }
        let taken = Array(input.prefix(whole.consumed))
        switch header.version {
        case .v1:
            invariant(taken.count <= ProxyProtocolLimits.maxV1LineLength && taken.suffix(2) == [13, 10]
                      && taken.dropLast(2).allSatisfy { $0 != 13 && $0 != 10 }, "v1 line took \(taken)")
            if let endpoints = header.endpoints, case .v4 = endpoints.source {
                let line = "PROXY TCP4 \(endpoints.source) \(endpoints.destination) "
                    + "\(endpoints.sourcePort) \(endpoints.destinationPort)\r\n"
                invariant(Array(line.utf8) == taken, "\(header) read from \(taken), not \(line.debugDescription)")
            }
        case .v2:
            invariant(taken.count == 16 + (Int(taken[14]) << 8 | Int(taken[15])), "v2 header took \(taken.count) octets")
        }
    }

    static func decode(_ buffer: inout ByteBuffer) -> Outcome {
        let before = buffer.readableBytes
        do {
            let header = try ProxyHeaderDecoder.decode(&buffer)
            return Outcome(header: header, consumed: before - buffer.readableBytes)
        } catch {
            invariant(buffer.readableBytes == before, "an error consumed octets")
            return Outcome(error: error)
        }
    }
}
