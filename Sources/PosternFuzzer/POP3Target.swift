// The POP3 command grammar, the session state machine and the RETR/TOP
// byte-stuffing over whatever a client sends (or a message holds).
// Invariants: a parsed command's verb is the line's first word; the session
// never lists a deleted message and its STAT agrees with its LIST; no reply
// holds a line break; stuffed output, unstuffed, is the message again, the
// same whether encoded at once or byte by byte, and TOP's is a prefix of it.
import IMAPCore
import NIOCore
import POP3Core
import SMTPCore

enum POP3Target {
    static let maildrop = [
        POP3Message(uid: 1, size: 10, uniqueID: "a"),
        POP3Message(uid: 2, size: 20, uniqueID: "b"),
        POP3Message(uid: 5, size: 30, uniqueID: "c", queueID: "Q"),
    ]

    static func run(_ bytes: UnsafeRawBufferPointer) {
        runSession(bytes)
        runEncoder(bytes)
    }

    /// Every line through the parser and a session whose server always
    /// says yes (so the fuzzer reaches TRANSACTION with "USER x", "PASS y").
    static func runSession(_ bytes: UnsafeRawBufferPointer) {
        var input = ByteBuffer(bytes: bytes)
        var decoder = SMTPFrameDecoder(maxLineLength: 256)
        var session = POP3Session(configuration: .init(hostname: "h", tlsAvailable: true, allowPlaintextAuth: bytes.first == 0x41))
        while session.state != .closed, let frame = decoder.next(&input) {
            var action: POP3Session.Action
            switch frame {
            case .command(let line) where session.isAwaitingSASLResponse:
                action = session.saslResponse(SecretBytes(Array(line.readableBytesView)))
            case .command(let line):
                do {
                    let command = try POP3CommandParser.parse(line.readableBytesView)
                    let firstWord = String(decoding: line.readableBytesView.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                    invariant(command.verb == firstWord.uppercased(), "\(command.verb) from a line starting \(firstWord)")
                    action = session.receive(command)
                } catch {
                    action = session.receive(error)
                }
            case .commandTooLong:
                action = session.lineTooLong()
            default:
                invariant(false, "data frame in command mode")
                return
            }
            while let next = serve(action, &session) { action = next }
            checkMaildrop(session)
        }
    }

    /// Plays the server: every outcome succeeds; returns the follow-up.
    static func serve(_ action: POP3Session.Action, _ session: inout POP3Session) -> POP3Session.Action? {
        switch action {
        case .reply(let reply), .close(let reply), .startTLS(let reply), .markedDeleted(_, _, let reply):
            invariant(!reply.description.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }), "line break in \(reply)")
            if case .startTLS = action { session.tlsEstablished() }
            return nil
        case .listing(let listing):
            invariant(listing.lines.allSatisfy { !$0.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) }, "line break in a listing")
            return nil
        case .saslChallenge:
            return nil
        case .verify:
            return session.authenticationFinished(.valid)
        case .openMaildrop:
            return session.maildropOpened(maildrop)
        case .retrieve(let message, let number, _):
            invariant(session.maildrop.message(number) == .success(message), "retrieving unlisted message \(number)")
            return nil
        case .update(let messages):
            invariant(messages == session.maildrop.markedMessages, "UPDATE of unmarked messages")
            return session.updateFinished(notRemoved: 0)
        }
    }

    static func checkMaildrop(_ session: POP3Session) {
        let maildrop = session.maildrop
        invariant(maildrop.listedCount == maildrop.listed.count, "count \(maildrop.listedCount) vs \(maildrop.listed.count)")
        invariant(maildrop.listed.allSatisfy { !maildrop.deleted.contains($0.number) }, "a deleted message is listed")
        invariant(maildrop.listedOctets == maildrop.listed.reduce(0) { $0 + $1.message.size }, "STAT octets")
    }

    /// The input as a message: RETR output unstuffs to it, byte by byte
    /// gives the same, and TOP of any length is a prefix of RETR.
    static func runEncoder(_ bytes: UnsafeRawBufferPointer) {
        let whole = encode(bytes, bodyLines: nil, chunk: bytes.count)
        invariant(encode(bytes, bodyLines: nil, chunk: 1) == whole, "byte by byte differs")
        let top = encode(bytes, bodyLines: Int(bytes.last ?? 0) % 8, chunk: 3)
        invariant(whole.starts(with: top.dropLast(3)), "TOP is not a prefix of RETR")
        invariant(whole.count >= 3 && whole.suffix(3).elementsEqual(".\r\n".utf8), "no terminator")
        var unstuffed: [UInt8] = []
        var atLineStart = true
        for byte in whole.dropLast(3) {
            if atLineStart && byte == UInt8(ascii: ".") {
                atLineStart = false
                continue
            }
            unstuffed.append(byte)
            atLineStart = byte == UInt8(ascii: "\n")
        }
        var expected = Array(bytes)
        if let last = expected.last, last != UInt8(ascii: "\n") { expected += [0x0D, 0x0A] }
        invariant(unstuffed == expected, "unstuffed output differs from the message")
    }

    static func encode(_ bytes: UnsafeRawBufferPointer, bodyLines: Int?, chunk: Int) -> [UInt8] {
        var encoder = POP3MessageEncoder(bodyLines: bodyLines)
        var buffer = ByteBuffer()
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + max(chunk, 1))
            encoder.encode(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), into: &buffer)
            start = end
        }
        encoder.finish(into: &buffer)
        return Array(buffer.readableBytesView)
    }
}
