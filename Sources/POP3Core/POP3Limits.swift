/// Limits on what one POP3 client may make the server buffer or repeat.
/// They live in one place so the framing layer, the session and the server
/// agree (compare `SMTPDefaults`, `IMAPDefaults`).
public struct POP3Limits: Equatable, Sendable {
    /// Octets of one line, CRLF included. RFC 2449 §4 caps commands at 255;
    /// an RFC 4616 PLAIN response of three 255-octet fields is about 1,030
    /// octets of base64, so a line may be that long and no longer.
    public var maxLineLength: Int
    /// Failed logins in one session before it is closed.
    public var maxAuthFailures: Int
    /// Unknown or malformed commands in one session before it is closed.
    public var maxBadCommands: Int
    /// Seconds without a command before the session ends without UPDATE
    /// (RFC 1939 §3: the autologout timer is at least 10 minutes).
    public var idleTimeoutSeconds: Double

    public init(maxLineLength: Int = 1040, maxAuthFailures: Int = 3, maxBadCommands: Int = 20,
                idleTimeoutSeconds: Double = 600) {
        self.maxLineLength = maxLineLength
        self.maxAuthFailures = maxAuthFailures
        self.maxBadCommands = maxBadCommands
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }
}

public enum POP3Defaults {
    public static let limits = POP3Limits()
}
