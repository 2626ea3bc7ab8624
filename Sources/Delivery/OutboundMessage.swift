import MailQueue
import NIOCore
import SMTPCore

/// Where the content of a message comes from. Queue files are streamed in
/// chunks, never read whole; in-memory bodies serve tests and small
/// generated messages (bounces).
public enum MessageBody: Sendable, Hashable {
    /// A file with CRLF line ends, read from `offset` (the envelope's
    /// `bodyOffset`) up to `end` (nil: the end of the file); a queue
    /// record's body ends where its envelope starts (`QueuedBody`).
    case file(path: String, offset: Int = 0, end: Int? = nil)
    case bytes(ByteBuffer)
}

/// One message to hand to the next hop: the envelope part the client needs
/// and the body.
public struct OutboundMessage: Sendable, Hashable {
    /// The queue ID, for logs.
    public var id: String
    /// The reverse-path without angle brackets; "" is the null sender.
    public var sender: String
    /// Forward-paths without angle brackets, all for this next hop.
    public var recipients: [String]
    /// Body size in octets: sent as SIZE= and compared with the server's limit.
    public var size: Int
    /// The body has 8-bit octets (received with BODY=8BITMIME, RFC 6152).
    public var eightBitMIME: Bool
    /// Received with SMTPUTF8 (RFC 6531).
    public var smtpUTF8: Bool
    public var body: MessageBody
    /// The body's octets need no dot-stuffing (`HeldBody.isPlain`): sent
    /// as they are.
    public var bodyIsPlain = false
    /// Header fields decided after the body was spooled (the envelope's
    /// added fields), sent ahead of the untouched body; counted in `size`.
    public var prefix: ByteBuffer
    /// RET= and ENVID= (RFC 3461), passed on to a next hop that offers DSN.
    public var dsnReturn: DSNReturn?
    public var envelopeID: String?
    /// NOTIFY= and ORCPT= per recipient, in the order of `recipients`;
    /// may be empty when no recipient has any (see `parameters(at:)`).
    public var recipientParameters: [RecipientParameters] = []

    public init(id: String, sender: String, recipients: [String], size: Int,
                eightBitMIME: Bool = false, smtpUTF8: Bool = false, body: MessageBody, prefix: ByteBuffer = ByteBuffer()) {
        self.id = id
        self.sender = sender
        self.recipients = recipients
        self.size = size
        self.eightBitMIME = eightBitMIME
        self.smtpUTF8 = smtpUTF8
        self.body = body
        self.prefix = prefix
    }

    /// A queued message for the recipients at `indices` in the envelope;
    /// by default those still pending or deferred.
    public init(envelope: Envelope, body: QueuedBody, indices: [Int]? = nil) {
        let chosen = (indices ?? envelope.recipients.indices.filter { envelope.recipients[$0].status.isUndelivered })
            .map { envelope.recipients[$0] }
        let prefix = ByteBuffer(string: envelope.addedHeaders.joined())
        self.init(id: envelope.id.description, sender: envelope.sender, recipients: chosen.map(\.address),
                  size: envelope.messageSize, eightBitMIME: envelope.eightBitMIME, smtpUTF8: envelope.smtpUTF8,
                  body: .file(path: body.path, offset: body.offset, end: body.end), prefix: prefix)
        dsnReturn = envelope.dsnReturn
        envelopeID = envelope.envelopeID
        recipientParameters = chosen.map(\.dsn)
    }

    /// The DSN parameters of the recipient at `index` (none if not set).
    public func parameters(at index: Int) -> RecipientParameters {
        recipientParameters.indices.contains(index) ? recipientParameters[index] : RecipientParameters()
    }

    /// The message cannot go to a server without SMTPUTF8 (RFC 6531 §3.2):
    /// it was received with SMTPUTF8 or an envelope address is not ASCII.
    public var requiresSMTPUTF8: Bool {
        smtpUTF8 || !sender.utf8.allSatisfy { $0 < 0x80 } || recipients.contains { !$0.utf8.allSatisfy { $0 < 0x80 } }
    }

    /// Why an address cannot be written into MAIL or RCPT, or nil if it can:
    /// no controls (CR/LF would inject commands), no angle brackets, and at
    /// most 256 octets plus brackets (RFC 5321 §4.5.3.1.3).
    static func invalidAddressReason(_ address: String) -> String? {
        if address.utf8.count > 254 { return "address longer than 254 octets" }
        if address.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") }) {
            return "address contains control characters or angle brackets"
        }
        return nil
    }
}
