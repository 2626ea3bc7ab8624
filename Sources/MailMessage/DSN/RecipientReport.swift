import Foundation

/// What a DSN says about one recipient: one per-recipient group of the
/// `message/delivery-status` part (RFC 3464 §2.3).
public struct RecipientReport: Sendable, Equatable {
    /// RFC 3464 §2.3.3.
    public enum Action: String, Sendable, CaseIterable {
        /// Not delivered and never will be.
        case failed
        /// Not delivered yet; still being tried.
        case delayed
        /// Delivered to the recipient's mailbox.
        case delivered
        /// Passed to a system that sends no further DSNs.
        case relayed
        /// Delivered to a list or alias that passed it on.
        case expanded
    }

    /// A Diagnostic-Code (RFC 3464 §2.3.6): the next hop's reply, or what
    /// this host found itself.
    public struct Diagnostic: Sendable, Equatable {
        /// "smtp" for a reply; "X-Postern" for a local finding.
        public var type: String
        public var text: String

        public init(type: String, text: String) {
            self.type = type
            self.text = text
        }

        /// A reply as it came, e.g. "550 5.1.1 <bob@example.org>: no such user".
        public static func smtp(_ reply: String) -> Diagnostic {
            Diagnostic(type: "smtp", text: reply)
        }

        /// Whether the text is a remote server's reply.
        public var isSMTPReply: Bool { type.lowercased() == "smtp" }
    }

    /// The envelope recipient the report is about (without angle brackets).
    public var finalRecipient: String
    /// The ORCPT the client gave (RFC 3461 §4.2) as "addr-type;address",
    /// xtext-decoded; nil when it gave none.
    public var originalRecipient: String?
    public var action: Action
    /// RFC 3463 status, e.g. "5.1.1"; an invalid one is reported as X.0.0
    /// with the class the action implies. For a recipient failed because
    /// the queue lifetime ran out, report the last attempt's status (a
    /// 4.x.x with Action failed, as Postfix does), or 4.4.7 "delivery time
    /// expired" when there was none (RFC 3463 §3.5 prefers the real cause).
    public var status: String
    /// The host that answered, when a host was reached.
    public var remoteMTA: String?
    public var diagnostic: Diagnostic?
    public var lastAttemptDate: Date?
    /// For a delayed recipient: when the queue will give up (the message's
    /// arrival plus the queue lifetime).
    public var willRetryUntil: Date?

    public init(finalRecipient: String, originalRecipient: String? = nil, action: Action, status: String,
                remoteMTA: String? = nil, diagnostic: Diagnostic? = nil, lastAttemptDate: Date? = nil,
                willRetryUntil: Date? = nil) {
        self.finalRecipient = finalRecipient
        self.originalRecipient = originalRecipient
        self.action = action
        self.status = status
        self.remoteMTA = remoteMTA
        self.diagnostic = diagnostic
        self.lastAttemptDate = lastAttemptDate
        self.willRetryUntil = willRetryUntil
    }

    /// `status` if it is a valid "X.Y.Z" (RFC 3463 §2), else the default for the action.
    var validStatus: String {
        let parts = status.split(separator: ".", omittingEmptySubsequences: false)
        let valid = parts.count == 3 && ["2", "4", "5"].contains(parts[0])
            && parts.dropFirst().allSatisfy { part in
                (1...3).contains(part.utf8.count) && part.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            }
        if valid { return status }
        switch action {
        case .failed: return "5.0.0"
        case .delayed: return "4.0.0"
        case .delivered, .relayed, .expanded: return "2.0.0"
        }
    }
}

extension DeliveryStatusNotification {
    /// The body of the `message/delivery-status` part: the per-message
    /// fields, then one group per recipient, groups separated by an empty
    /// line (RFC 3464 §2.1). Always 7-bit.
    func deliveryStatusFields() -> String {
        var groups: [[String]] = []
        var perMessage = ["Reporting-MTA: dns; \(DSNFormat.sevenBit(reportingMTA))"]
        if let queueID {
            perMessage.append("X-Postern-Queue-ID: \(DSNFormat.sevenBit(queueID))")
        }
        if let originalEnvelopeID {
            perMessage.append("Original-Envelope-Id: \(DSNFormat.sevenBit(originalEnvelopeID))")
        }
        perMessage.append("Arrival-Date: \(date(arrivalDate))")
        groups.append(perMessage)
        groups += recipients.map(recipientFields)
        return groups.map { group in
            group.map { DSNFormat.fold($0) + "\r\n" }.joined()
        }.joined(separator: "\r\n")
    }

    private func recipientFields(_ report: RecipientReport) -> [String] {
        var fields: [String] = []
        if let original = report.originalRecipient {
            fields.append("Original-Recipient: \(DSNFormat.sevenBit(original))")
        }
        fields.append("Final-Recipient: \(DSNFormat.typedAddress(report.finalRecipient))")
        fields.append("Action: \(report.action.rawValue)")
        fields.append("Status: \(report.validStatus)")
        if let remoteMTA = report.remoteMTA {
            fields.append("Remote-MTA: dns; \(DSNFormat.sevenBit(remoteMTA))")
        }
        if let diagnostic = report.diagnostic {
            let type = DSNFormat.sevenBit(diagnostic.type).replacingOccurrences(of: " ", with: "")
            fields.append("Diagnostic-Code: \(type); \(DSNFormat.sevenBit(diagnostic.text))")
        }
        if let lastAttempt = report.lastAttemptDate {
            fields.append("Last-Attempt-Date: \(date(lastAttempt))")
        }
        if report.action == .delayed, let until = report.willRetryUntil {
            fields.append("Will-Retry-Until: \(date(until))")
        }
        return fields
    }

    func date(_ date: Date) -> String {
        MessageDate.string(from: date, timeZone: timeZone)
    }
}
