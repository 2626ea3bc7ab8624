import NIOCore

/// RFC 2449 §8 extended response codes, in brackets after "-ERR" so a
/// client can tell a wrong password from a busy maildrop or a server fault.
public enum POP3ResponseCode: String, Sendable, Hashable {
    /// RFC 3206 §4: the credentials were refused (not a server fault).
    case auth = "AUTH"
    /// RFC 3206 §3: a temporary fault; try again later.
    case systemTemporary = "SYS/TEMP"
    /// RFC 3206 §3: a fault that retrying will not fix.
    case systemPermanent = "SYS/PERM"
    /// RFC 2449 §8.1.2: the maildrop is in use by another session.
    case inUse = "IN-USE"
}

/// One status line: "+OK text" or "-ERR [CODE] text" (RFC 1939 §3).
/// The text is ours, never a client's bytes or a file name, so it holds no
/// line breaks.
public struct POP3Reply: Sendable, Hashable, CustomStringConvertible {
    public var isOK: Bool
    public var code: POP3ResponseCode?
    public var text: String

    public init(isOK: Bool, code: POP3ResponseCode? = nil, text: String) {
        self.isOK = isOK
        self.code = code
        self.text = text
    }

    public static func ok(_ text: String) -> POP3Reply { POP3Reply(isOK: true, text: text) }

    public static func err(_ text: String, code: POP3ResponseCode? = nil) -> POP3Reply {
        POP3Reply(isOK: false, code: code, text: text)
    }

    /// The line without its CRLF.
    public var description: String {
        var line = isOK ? "+OK" : "-ERR"
        if let code { line += " [\(code.rawValue)]" }
        if !text.isEmpty { line += " \(text)" }
        return line
    }

    public func write(into buffer: inout ByteBuffer) {
        buffer.writeString(description)
        buffer.writeStaticString("\r\n")
    }
}

/// A multi-line response made of our own short lines (CAPA, LIST, UIDL):
/// "+OK", the lines byte-stuffed, then "." (RFC 1939 §3).
public struct POP3Listing: Sendable, Hashable {
    public var first: POP3Reply
    public var lines: [String]

    public init(_ first: POP3Reply, lines: [String]) {
        self.first = first
        self.lines = lines
    }

    public func write(into buffer: inout ByteBuffer) {
        first.write(into: &buffer)
        for line in lines {
            if line.hasPrefix(".") { buffer.writeStaticString(".") }
            buffer.writeString(line)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString(".\r\n")
    }
}
