// The delivery client's reply parser (RFC 5321 §4.2, enhanced codes per
// RFC 2034) over whatever a next hop sends. Invariants:
// - fed byte by byte, it reads the same replies and stops at the same error
//   as fed at once;
// - the replies it read, written as a server writes them, read back equal;
// - the one-line fast path reads what the general path reads.
import Delivery
import NIOCore
import SMTPCore

enum ReplyTarget {
    static let maxLineLength = 512
    static let maxLines = 20

    /// Every reply until the input ends or the parser refuses it.
    struct Outcome: Equatable {
        var replies: [SMTPReply] = []
        var error: ReplyParseError?
    }

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var parser = ReplyParser(maxLineLength: maxLineLength, maxLines: maxLines)
        var buffer = ByteBuffer(bytes: bytes)
        let whole = read(&buffer, with: &parser)

        var generalParser = ReplyParser(maxLineLength: maxLineLength, maxLines: maxLines)
        generalParser.oneLineFastPath = false
        var generalBuffer = ByteBuffer(bytes: bytes)
        let general = read(&generalBuffer, with: &generalParser)
        invariant(general == whole, "general path: \(general), with the fast path: \(whole)")

        var dripParser = ReplyParser(maxLineLength: maxLineLength, maxLines: maxLines)
        var drip = Outcome()
        var dripBuffer = ByteBuffer()
        for byte in bytes where drip.error == nil {
            dripBuffer.writeInteger(byte)
            let more = read(&dripBuffer, with: &dripParser)
            drip.replies += more.replies
            drip.error = more.error
        }
        invariant(drip == whole, "byte by byte: \(drip), at once: \(whole)")

        var written = ByteBuffer()
        for reply in whole.replies { reply.write(into: &written) }
        var rereader = ReplyParser(maxLineLength: .max, maxLines: .max)
        let reread = read(&written, with: &rereader)
        invariant(reread == Outcome(replies: whole.replies), "replies written and read back: \(reread), not \(whole.replies)")
        invariant(written.readableBytes == 0, "\(written.readableBytes) written octets left unread")
    }

    static func read(_ buffer: inout ByteBuffer, with parser: inout ReplyParser) -> Outcome {
        var outcome = Outcome()
        do {
            while let reply = try parser.next(&buffer) { outcome.replies.append(reply) }
        } catch {
            outcome.error = error
        }
        return outcome
    }
}
