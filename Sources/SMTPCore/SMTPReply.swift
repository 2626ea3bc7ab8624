import NIOCore

/// One SMTP reply (RFC 5321 §4.2): a three-digit code, an optional enhanced
/// status code and one or more lines of text.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var enhanced: EnhancedStatusCode?
    public var lines: [String]

    public init(code: Int, enhanced: EnhancedStatusCode? = nil, text: String) {
        self.init(code: code, enhanced: enhanced, lines: [text])
    }

    public init(code: Int, enhanced: EnhancedStatusCode? = nil, lines: [String]) {
        precondition((200...599).contains(code), "SMTP reply codes are 2xx-5xx")
        self.code = code
        self.enhanced = enhanced
        self.lines = lines.isEmpty ? [""] : lines.map(Self.textLine)
    }

    /// Reply text may hold no line breaks or other controls (RFC 5321 §4.2
    /// textstring): text from outside (an SPF explanation, a DNS name) must
    /// not split one reply into two.
    public static func textLine(_ text: String) -> String {
        // The octets in place (withUTF8): the generic UTF8View walk cost
        // ~800 instructions a reply (issue #15).
        var octets = text
        guard octets.withUTF8({ $0.contains { $0 < 0x20 || $0 == 0x7F } }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }

    public var isPositive: Bool { code < 400 }
    public var isTransient: Bool { (400..<500).contains(code) }
    public var isPermanent: Bool { code >= 500 }

    /// The reply as sent on the wire: "250-first\r\n250 last\r\n", with the
    /// enhanced code repeated on each line as RFC 2034 §4 shows.
    public func write(into buffer: inout ByteBuffer) {
        for (index, line) in lines.enumerated() {
            buffer.writeString(String(code))
            buffer.writeInteger(index == lines.count - 1 ? UInt8(ascii: " ") : UInt8(ascii: "-"))
            if let enhanced {
                buffer.writeString(enhanced.description)
                if !line.isEmpty { buffer.writeInteger(UInt8(ascii: " ")) }
            }
            buffer.writeString(line)
            buffer.writeStaticString("\r\n")
        }
    }

    /// Single-line form for logs.
    public var description: String {
        let prefix = enhanced.map { "\(code) \($0)" } ?? "\(code)"
        return "\(prefix) \(lines.joined(separator: " / "))"
    }
}

extension EnhancedStatusCode {
    public static let success = EnhancedStatusCode(2, 0, 0)
    public static let senderOK = EnhancedStatusCode(2, 1, 0)
    public static let recipientOK = EnhancedStatusCode(2, 1, 5)
    public static let syntaxError = EnhancedStatusCode(5, 5, 2)
    public static let invalidArguments = EnhancedStatusCode(5, 5, 4)
    public static let badSequence = EnhancedStatusCode(5, 5, 1)
}
