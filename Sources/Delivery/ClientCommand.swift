import NIOCore

/// One command line the client sends (RFC 5321 §4.1.1, RFC 3207, RFC 4954).
/// Arguments are validated before a command is built (see
/// `OutboundMessage.invalidAddressReason`), so no CR or LF can reach the wire.
public enum ClientCommand: Sendable, Hashable, CustomStringConvertible {
    case ehlo(String)
    case helo(String)
    case startTLS
    /// AUTH mechanism [initial-response] (RFC 4954 §4); the response is base64.
    case auth(mechanism: String, initialResponse: String?)
    /// A base64 answer to a 334 challenge.
    case authResponse(String)
    /// MAIL FROM:<reverse-path> followed by ESMTP parameters ("SIZE=123").
    case mail(from: String, parameters: [String])
    /// RCPT TO:<forward-path> followed by ESMTP parameters ("NOTIFY=NEVER").
    case rcpt(to: String, parameters: [String] = [])
    case data
    /// The lone "." that ends an empty message after an unexpected 354
    /// when no recipient was accepted (RFC 2920 §3.1).
    case emptyMessageEnd
    case rset
    case quit

    /// The line as sent, CRLF included.
    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .ehlo(let name): buffer.writeString("EHLO \(name)")
        case .helo(let name): buffer.writeString("HELO \(name)")
        case .startTLS: buffer.writeStaticString("STARTTLS")
        case .auth(let mechanism, let response?): buffer.writeString("AUTH \(mechanism) \(response)")
        case .auth(let mechanism, nil): buffer.writeString("AUTH \(mechanism)")
        case .authResponse(let response): buffer.writeString(response)
        case .mail(let from, let parameters):
            buffer.writeString("MAIL FROM:<\(from)>")
            for parameter in parameters { buffer.writeString(" \(parameter)") }
        case .rcpt(let to, let parameters):
            buffer.writeString("RCPT TO:<\(to)>")
            for parameter in parameters { buffer.writeString(" \(parameter)") }
        case .data: buffer.writeStaticString("DATA")
        case .emptyMessageEnd: buffer.writeStaticString(".")
        case .rset: buffer.writeStaticString("RSET")
        case .quit: buffer.writeStaticString("QUIT")
        }
        buffer.writeStaticString("\r\n")
    }

    /// The line for logs: AUTH payloads never appear (STYLE.md habit 10).
    public var description: String {
        switch self {
        case .auth(let mechanism, .some): return "AUTH \(mechanism) <redacted>"
        case .authResponse: return "<redacted>"
        default:
            var buffer = ByteBuffer()
            write(into: &buffer)
            return String(buffer.readString(length: buffer.readableBytes - 2) ?? "")
        }
    }
}
