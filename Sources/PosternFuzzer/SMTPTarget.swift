// The SMTP front end: command parser, framing decoder and session state
// machine together. The input is fed in chunks (first byte = chunk size) as
// a client would send it, and framing follows the session's actions
// (354 → DATA mode, BDAT → chunk mode) exactly as the NIO handler does.
// Invariant: DATA content never holds a bare CR or LF (SMTP smuggling).
import NIOCore
import SMTPCore

enum SMTPTarget {
    static let refusal = SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 7, 1), text: "refused")
    static let wrongPassword = SMTPReply(code: 535, enhanced: EnhancedStatusCode(5, 7, 8), text: "wrong")

    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let chunkSize = Int(first) + 1
        var limits = SMTPLimits()
        limits.maxMessageSize = 4096
        limits.maxRecipients = 5
        limits.maxErrors = 50
        var session = ServerSession(configuration: .init(hostname: "fuzz.example", limits: limits, tlsAvailable: true,
                                                         authMechanisms: ["PLAIN", "LOGIN"], authRequiresTLS: false))
        var decoder = SMTPFrameDecoder(maxLineLength: 128)
        var buffer = ByteBuffer()
        var previousWasCR = false
        var offset = 1
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunkSize)
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
            while let frame = decoder.next(&buffer) {
                var action: ServerSession.Action?
                switch frame {
                case .command(let line):
                    do { action = session.receive(try CommandParser.parse(line.readableBytesView)) }
                    catch { action = session.receive(error) }
                case .commandTooLong:
                    action = session.lineTooLong()
                case .dataContent(let content):
                    // Invariant: DATA content never holds a CR or LF outside a CRLF pair.
                    for byte in content.readableBytesView {
                        invariant(!(previousWasCR && byte != UInt8(ascii: "\n")), "bare CR passed the decoder")
                        invariant(!(byte == UInt8(ascii: "\n") && !previousWasCR), "bare LF passed the decoder")
                        previousWasCR = byte == UInt8(ascii: "\r")
                    }
                    _ = session.contentReceived(content.readableBytes)
                case .dataEnd:
                    invariant(!previousWasCR, "DATA ended inside a CRLF pair")
                    action = session.contentEnded()
                case .dataBareLineEnding:
                    action = session.bareLineEnding()
                case .chunkContent(let content):
                    _ = session.contentReceived(content.readableBytes)
                case .chunkEnd:
                    action = session.contentEnded()
                }
                guard let action else { continue }
                switch action {
                case .close:
                    return
                case .startData:
                    previousWasCR = false
                    decoder.beginData()
                case .startChunk(let size), .discardChunk(let size, _):
                    decoder.beginChunk(size: min(size, 1 << 20))
                case .commit:
                    _ = session.commitSucceeded(queueID: "0000000000000001")
                case .startTLS:
                    session.tlsEstablished()
                case .reply, .abortMessage, .checkHELO:
                    break
                case .checkSender(let transaction):
                    // Alternate verdicts so both paths of the policy hooks run.
                    let refuse = session.errorCount % 2 == 1
                    _ = session.senderChecked(transaction, refusal: refuse ? refusal : nil)
                case .checkRecipient(let recipient):
                    _ = session.recipientChecked(recipient, refusal: recipient.address.count % 3 == 0 ? refusal : nil)
                case .authenticate(_, let initialResponse):
                    // The SASL decoders see whatever the client sent (RFC 4616).
                    if let initialResponse {
                        _ = try? SASL.decodePlain(initialResponse)
                        _ = try? SASL.decodeBase64Text(initialResponse)
                    }
                    if initialResponse == nil {
                        if case .close = session.authFailed(wrongPassword) { return }
                    } else {
                        _ = session.authSucceeded(user: "fuzz")
                    }
                }
            }
        }
    }
}
