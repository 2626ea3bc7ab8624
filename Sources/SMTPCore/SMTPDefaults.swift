/// Every protocol limit in one place (RFC 5321 §4.5.3).
public struct SMTPLimits: Sendable, Equatable {
    /// Command line including CRLF (RFC 5321 §4.5.3.1.4).
    public var maxCommandLineLength: Int = 1000
    /// Largest message accepted, in octets, advertised by SIZE (RFC 1870).
    public var maxMessageSize: Int = 50 * 1024 * 1024
    /// Recipients per transaction; RFC 5321 §4.5.3.1.8 asks for at least 100.
    public var maxRecipients: Int = 100
    /// Protocol errors tolerated before 421 and close.
    public var maxErrors: Int = 3
    /// Recipients the policy refused in one session before 421 and close:
    /// a client probing for a relay or for addresses gets a bounded number
    /// of tries per connection (Postfix counts these as errors too).
    public var maxRefusedRecipients: Int = 100
    /// Longest header section held in memory while looking for Message-ID
    /// and Date; past it the rest is streamed untouched.
    public var maxHeaderBytes: Int = 256 * 1024
    /// Connections in total and per client IP; beyond: 421 4.7.0.
    public var maxConnections: Int = 1000
    public var maxConnectionsPerIP: Int = 100
    /// Server timeouts (RFC 5321 §4.5.3.2.7: at least 5 minutes waiting for
    /// the next command; §4.5.3.2.5/6 data block and end of data).
    public var commandTimeoutSeconds: Int = 300
    public var dataTimeoutSeconds: Int = 180

    public init() {}
}

public enum SMTPDefaults {
    public static let limits = SMTPLimits()
    public static let port = 2525
    public static let host = "127.0.0.1"
}
