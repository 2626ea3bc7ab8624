// The IMAP command grammar (issue #14's first step) over whatever a client
// sends. Invariants: the decoder gives the same frames fed byte by byte as
// fed at once; a parsed command's tag is the line's first word; a parse
// error with a tag names that tag; small limits hold (no literal over its
// limit becomes part of a command).
import IMAPCore
import NIOCore

enum IMAPTarget {
    static let limits: IMAPLimits = {
        var limits = IMAPDefaults.limits
        limits.maxLiteralSize = 256
        limits.maxLineLength = 512
        limits.maxCommandSize = 2048
        return limits
    }()

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var whole = ByteBuffer(bytes: bytes)
        var decoder = IMAPFrameDecoder(limits: limits)
        let atOnce = frames(&whole, &decoder)

        var dripDecoder = IMAPFrameDecoder(limits: limits)
        var drip: [IMAPFrame] = []
        var buffer = ByteBuffer()
        for byte in bytes where !dripDecoder.isStopped {
            buffer.writeInteger(byte)
            drip += frames(&buffer, &dripDecoder)
        }
        invariant(drip == atOnce, "byte by byte: \(drip), at once: \(atOnce)")

        for frame in atOnce {
            guard case .command(let line) = frame else { continue }
            invariant(line.readableBytes <= limits.maxCommandSize + limits.maxLineLength, "command of \(line.readableBytes) octets")
            let firstWord = String(decoding: line.readableBytesView.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
            do {
                let command = try IMAPCommandParser.parse(line, limits: limits)
                invariant(command.tag == firstWord, "tag \(command.tag) of a line starting \(firstWord)")
            } catch {
                if let tag = error.tag { invariant(tag == firstWord, "error tag \(tag) of a line starting \(firstWord)") }
                _ = error.text
            }
            _ = try? IMAPCommandParser.parseIdleDone(line)
            _ = try? IMAPCommandParser.parseAuthenticationResponse(line)
        }
    }

    static func frames(_ buffer: inout ByteBuffer, _ decoder: inout IMAPFrameDecoder) -> [IMAPFrame] {
        var out: [IMAPFrame] = []
        while let frame = decoder.next(&buffer) { out.append(frame) }
        return out
    }
}
