import SMTPCore

/// The checks made before a message is offered to a server, and the MAIL
/// parameters it gets. Recipients settled here never reach the wire.
struct MessagePlan: Sendable, Hashable {
    /// One per recipient: nil to send, else settled locally.
    var outcomes: [RecipientOutcome?]
    var mailParameters: [String] = []
    /// ESMTP parameters per recipient (NOTIFY, ORCPT), when the server offers DSN.
    var recipientParameters: [[String]]
    /// The DSN parameters go to the server (RFC 3461 §4): it offers DSN.
    let passesDSN: Bool
    var notes: [String] = []

    init(message: OutboundMessage, capabilities: ServerCapabilities, ourLimit: Int?) {
        passesDSN = capabilities.dsn
        recipientParameters = message.recipients.indices.map { index in
            capabilities.dsn ? Self.dsnParameters(message.parameters(at: index)) : []
        }
        outcomes = message.recipients.map { address in
            let why = address.isEmpty ? "empty address" : OutboundMessage.invalidAddressReason(address)
            return why.map { .failed(.local(EnhancedStatusCode(5, 1, 3), "bad recipient address: \($0)", stage: .rcpt)) }
        }
        if let why = OutboundMessage.invalidAddressReason(message.sender) {
            settleAll(.failed(.local(EnhancedStatusCode(5, 1, 7), "bad sender address: \(why)", stage: .mail)))
            return
        }
        if let limit = ourLimit, message.size > limit {
            settleAll(.failed(.local(EnhancedStatusCode(5, 3, 4),
                                     "message size \(message.size) exceeds the limit of \(limit) octets", stage: .mail)))
            return
        }
        // RFC 1870 §6.1: a client should not send a message larger than announced.
        if let limit = capabilities.maxMessageSize, message.size > limit {
            settleAll(.failed(.local(EnhancedStatusCode(5, 3, 4),
                                     "message size \(message.size) exceeds the next hop's limit of \(limit) octets",
                                     stage: .mail)))
            return
        }
        // RFC 6531 §3.2: no downgrade is defined for internationalized envelopes.
        if message.requiresSMTPUTF8 && !capabilities.smtpUTF8 {
            settleAll(.failed(.local(EnhancedStatusCode(5, 6, 7),
                                     "the message needs SMTPUTF8, which the next hop does not offer", stage: .mail)))
            return
        }
        // RFC 6152 §3: 8-bit content goes only to a server that offers
        // 8BITMIME; Postern does not convert to 7 bit, so it returns the
        // message instead. (`eightBitMIME` is set only when the content
        // really holds 8-bit octets, see DeliveryAgent.)
        if message.eightBitMIME && !capabilities.eightBitMIME {
            settleAll(.failed(.local(EnhancedStatusCode(5, 6, 3),
                                     "8-bit content, and the next hop does not offer 8BITMIME", stage: .mail)))
            return
        }
        if capabilities.size { mailParameters.append("SIZE=\(message.size)") }
        if message.eightBitMIME { mailParameters.append("BODY=8BITMIME") }
        if message.requiresSMTPUTF8 { mailParameters.append("SMTPUTF8") }
        if capabilities.dsn {
            if let ret = message.dsnReturn { mailParameters.append("RET=\(ret.rawValue)") }
            if let envid = message.envelopeID { mailParameters.append("ENVID=\(XText.encode(envid))") }
        }
    }

    /// NOTIFY= and ORCPT= as given to us (RFC 3461 §5.2.1: a relaying MTA
    /// passes them on unchanged); nothing made up when none were given.
    private static func dsnParameters(_ parameters: RecipientParameters) -> [String] {
        var out: [String] = []
        if let notify = parameters.notify { out.append("NOTIFY=\(notify.parameterValue)") }
        if let orcpt = parameters.originalRecipient { out.append("ORCPT=\(orcpt.parameterValue)") }
        return out
    }

    private mutating func settleAll(_ outcome: RecipientOutcome) {
        for index in outcomes.indices where outcomes[index] == nil { outcomes[index] = outcome }
    }
}
