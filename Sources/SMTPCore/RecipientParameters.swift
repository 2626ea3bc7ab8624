/// The RCPT TO parameters Postern understands: the DSN extension's NOTIFY
/// and ORCPT (RFC 3461 §4.1, §4.2). Anything else is refused with 555
/// 5.5.4, a bad or repeated value with 501 5.5.4.
public struct RecipientParameters: Sendable, Hashable {
    /// NOTIFY=; nil: not given (failure and delay DSNs as usual, no success DSN).
    public var notify: DSNNotify?
    /// ORCPT=; nil: not given (nothing is made up for it).
    public var originalRecipient: OriginalRecipient?

    public init(notify: DSNNotify? = nil, originalRecipient: OriginalRecipient? = nil) {
        self.notify = notify
        self.originalRecipient = originalRecipient
    }

    public init(parsing params: [ESMTPParameter]) throws(MailParameters.ParameterError) {
        var seen = Set<String>()
        for param in params {
            guard seen.insert(param.keyword).inserted else { throw .duplicate(param.keyword) }
            switch param.keyword {
            case "NOTIFY": notify = try DSNNotify(parameter: param.value)
            case "ORCPT": originalRecipient = try OriginalRecipient(parameter: param.value)
            default: throw .unsupported(param.keyword)
            }
        }
    }

    /// Whether the client asked for a DSN on `condition`: with no NOTIFY,
    /// failures and delays are reported (RFC 3461 §4.1), successes are not.
    public func wantsNotice(_ condition: DSNNotify) -> Bool {
        guard let notify else { return condition != .success }
        return notify.contains(condition)
    }
}
