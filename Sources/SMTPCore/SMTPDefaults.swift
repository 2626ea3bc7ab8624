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
    /// NOOP, RSET, VRFY, EXPN, HELP, HELO and EHLO a session may send
    /// between accepted messages before each counts as an error (Postfix's
    /// smtpd_junk_command_limit); 0: no limit.
    public var maxJunkCommands: Int = 100
    /// Longest header section held in memory while looking for Message-ID
    /// and Date; past it the rest is streamed untouched.
    public var maxHeaderBytes: Int = 256 * 1024
    /// Connections in total and per client IP; beyond: 421 4.7.0.
    public var maxConnections: Int = 1000
    public var maxConnectionsPerIP: Int = 100
    /// Server timeouts (RFC 5321 §4.5.3.2.7: at least 5 minutes waiting for
    /// the next command; §4.5.3.2.5/6 data block and end of data).
    /// The command timeout also bounds one command line from its first
    /// octet, so a client dripping a byte at a time cannot hold its slot
    /// (Postfix's smtpd_per_record_deadline).
    public var commandTimeoutSeconds: Int = 300
    public var dataTimeoutSeconds: Int = 180
    /// DATA and BDAT must average this many octets per second once
    /// `dataRateGraceSeconds` have passed (Postfix's smtpd_min_data_rate);
    /// 0 turns the rate deadline off.
    public var minDataRate: Int = 500
    public var dataRateGraceSeconds: Int = 30
    /// When this share of `maxConnections` (percent) is open, every timer is
    /// cut to `stressTimeoutSeconds` (Postfix's stress mode).
    public var stressThresholdPercent: Int = 80
    public var stressTimeoutSeconds: Int = 10
    /// Message lines over 998 octets (RFC 5322 §2.1.1): split when relayed,
    /// or refused at the end of DATA.
    public var longLines: LongLines = .split

    public enum LongLines: String, Sendable, Equatable, CaseIterable {
        /// Accepted; delivery breaks them as Postfix's smtp_line_length_limit does.
        case split
        /// Refused with 554 5.6.0 at the end of DATA.
        case refuse
    }

    public init() {}
}

public enum SMTPDefaults {
    public static let limits = SMTPLimits()
    /// ENVID= as sent, in characters (RFC 3461 §4.4).
    public static let maxEnvelopeIDLength = 100
    /// ORCPT= as sent, in characters (RFC 3461 §4.2).
    public static let maxOriginalRecipientLength = 500
    public static let port = 2525
    public static let host = "127.0.0.1"
}
