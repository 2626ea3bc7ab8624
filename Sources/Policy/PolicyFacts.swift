import DNSModel
import SMTPCore
import SPF

/// What is known about the client when a filter runs.
public struct SessionFacts: Sendable, Equatable {
    /// The client's address; nil when the connection has none (tests, sockets).
    public var clientIP: IPAddress?
    /// HELO/EHLO argument, once given.
    public var helo: String?
    public var tls: Bool
    /// The SMTP-AUTH identity, once authenticated (RFC 4954).
    public var user: String?

    public init(clientIP: IPAddress?, helo: String? = nil, tls: Bool = false, user: String? = nil) {
        self.clientIP = clientIP
        self.helo = helo
        self.tls = tls
        self.user = user
    }
}

/// The mail transaction as far as it has got (RFC 5321 §3.3).
public struct MessageFacts: Sendable, Equatable {
    public var sender: ReversePath
    public var parameters: MailParameters
    /// Recipients accepted so far (at RCPT: not yet including the one asked about).
    public var recipients: [ForwardPath]
    /// The SPF result MAIL FROM got, once known (DMARC uses it after DATA).
    public var spf: SPFResult?

    public init(sender: ReversePath, parameters: MailParameters = MailParameters(), recipients: [ForwardPath] = [],
                spf: SPFResult? = nil) {
        self.sender = sender
        self.parameters = parameters
        self.recipients = recipients
        self.spf = spf
    }
}

/// The received message at the end of DATA: its header section as the
/// client sent it and the spooled file holding the whole message.
public struct ReceivedContent: Sendable {
    /// Raw octets of the message as spooled (header section first).
    public var path: String?
    public var bytes: [UInt8]?
    public var size: Int
    /// The queue ID the message will have (scanners log it).
    public var id: String?

    public init(path: String, size: Int) {
        self.path = path
        self.bytes = nil
        self.size = size
    }

    public init(bytes: [UInt8]) {
        self.path = nil
        self.bytes = bytes
        self.size = bytes.count
    }
}
