import MailMessage

extension IMAPMessage {
    /// The ENVELOPE structure (RFC 3501 §7.4.2):
    /// `(date subject from sender reply-to to cc bcc in-reply-to message-id)`.
    public func envelope() -> [UInt8] {
        Self.envelope(mime.root.headers)
    }

    /// Date, Subject, In-Reply-To and Message-ID are the first field's
    /// octets, unfolded (encoded words kept: clients decode them). Address
    /// lists join every field of the name, as Dovecot does; Sender and
    /// Reply-To default to From when absent or empty (§7.4.2).
    static func envelope(_ headers: HeaderSection) -> [UInt8] {
        func text(_ name: String) -> [UInt8] {
            IMAPWire.nstring(headers.first(name)?.rawValueBytes)
        }
        func addresses(_ name: String) -> [EnvelopeAddress] {
            headers.all(name).flatMap { AddressListParser.parse($0.rawValueBytes) }
        }
        let from = addresses("From")
        var sender = addresses("Sender")
        if sender.isEmpty { sender = from }
        var replyTo = addresses("Reply-To")
        if replyTo.isEmpty { replyTo = from }
        let items: [[UInt8]] = [
            text("Date"), text("Subject"),
            EnvelopeAddress.list(from), EnvelopeAddress.list(sender), EnvelopeAddress.list(replyTo),
            EnvelopeAddress.list(addresses("To")), EnvelopeAddress.list(addresses("Cc")),
            EnvelopeAddress.list(addresses("Bcc")),
            text("In-Reply-To"), text("Message-ID"),
        ]
        return [UInt8(ascii: "(")] + Array(items.joined(separator: [UInt8(ascii: " ")])) + [UInt8(ascii: ")")]
    }
}
