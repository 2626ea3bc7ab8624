import MailMessage
import SMTPCore
import SPF

/// What one filter says about one phase of a session (maddy's check
/// results): go on, stop and accept, refuse, or set the message aside.
/// Header edits ride along with any verdict that lets the message through.
public struct PolicyVerdict: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        /// No objection: the next filter decides.
        case `continue`
        /// Accept this phase now; later filters of the phase are not asked.
        case accept
        /// Refuse with a 5xx reply.
        case reject(SMTPReply)
        /// Refuse for now with a 4xx reply; the client retries.
        case tempfail(SMTPReply)
        /// Accept the message but hold it in quarantine instead of delivering it.
        case quarantine(reason: String)
        /// Answer 250 but drop the message (an infected message nobody is to
        /// be told about). Ends the phase, like a refusal.
        case discard(reason: String)
    }

    public var decision: Decision
    public var headerEdits: [HeaderEdit]
    /// A short note for `postern policy test` and the logs (never secrets).
    public var note: String?
    /// The SPF result of MAIL FROM, kept for DMARC at the end of DATA.
    public var spf: SPFResult?

    public init(_ decision: Decision, headerEdits: [HeaderEdit] = [], note: String? = nil) {
        self.decision = decision
        self.headerEdits = headerEdits
        self.note = note
    }

    public static let `continue` = PolicyVerdict(.continue)
    public static let accept = PolicyVerdict(.accept)

    public static func reject(_ code: Int, _ enhanced: EnhancedStatusCode, _ text: String, note: String? = nil) -> PolicyVerdict {
        PolicyVerdict(.reject(SMTPReply(code: code, enhanced: enhanced, text: text)), note: note)
    }

    public static func tempfail(_ code: Int, _ enhanced: EnhancedStatusCode, _ text: String, note: String? = nil) -> PolicyVerdict {
        PolicyVerdict(.tempfail(SMTPReply(code: code, enhanced: enhanced, text: text)), note: note)
    }

    /// The reply this verdict forces, if it refuses.
    public var refusal: SMTPReply? {
        switch decision {
        case .reject(let reply), .tempfail(let reply): return reply
        default: return nil
        }
    }
}

extension Array where Element == HeaderEdit {
    /// The edits made inside the client's header section (removals,
    /// appended fields), in order.
    public var inPlace: [HeaderEdit] {
        filter { if case .prepend = $0 { false } else { true } }
    }

    /// The prepended fields as they go above our Received line: each one on
    /// top of what is there, so the last one first (RFC 5321 §4.4; RFC 7208
    /// §9.1 puts Received-SPF right above the Received field of this hop).
    public var prependedFields: [HeaderField] {
        reversed().compactMap { edit in
            guard case .prepend(let name, let value) = edit else { return nil }
            return HeaderRewriter.makeTraceField(name: name, value: value)
        }
    }
}

/// A change to the message's header section. Filters never touch the body
/// (it would break DKIM signatures, STYLE habit 7).
public enum HeaderEdit: Sendable, Equatable {
    /// Add a field at the top, above the client's fields (trace fields such
    /// as Received-SPF go there, RFC 5321 §4.4).
    case prepend(name: String, value: String)
    /// Add a field at the end of the header section.
    case append(name: String, value: String)
    /// Remove every field of this name (case-insensitive).
    case remove(name: String)
    /// Remove the Authentication-Results fields that claim to come from
    /// `authservID` (ours): RFC 8601 §5 wants a border MTA to drop such
    /// forgeries before adding its own.
    case removeAuthenticationResults(authservID: String)
}
