import Foundation

/// A reply from the next hop's SMTP server (RFC 5321 §4.2), as the
/// classifier needs it: multi-line replies are joined with spaces.
public struct RemoteReply: Sendable, Equatable {
    public var code: Int
    /// The enhanced status code ("5.1.1", RFC 3463) exactly as sent, if any.
    public var enhancedStatus: String?
    public var text: String

    public init(code: Int, enhancedStatus: String? = nil, text: String) {
        self.code = code
        self.enhancedStatus = enhancedStatus
        self.text = text
    }

    /// The reply as it appeared on the wire, on one line — what a DSN's
    /// Diagnostic-Code carries after "smtp;" (RFC 3464 §2.3.6).
    public var diagnosticText: String {
        [String(code), enhancedStatus ?? "", text].filter { !$0.isEmpty }.joined(separator: " ")
    }
}

/// What happened when delivery to one recipient was attempted.
public enum DeliveryOutcome: Sendable, Equatable {
    /// The server answered (to the greeting, MAIL, RCPT or the end of data).
    case reply(RemoteReply)
    /// No server listened on any address of the destination.
    case connectionRefused
    /// The connection broke before a final reply.
    case connectionLost
    /// Connecting, or waiting for a reply, took longer than its timeout.
    case timeout
    /// The TLS handshake failed, or TLS was required and not offered.
    case tlsFailure
    /// The DNS look-up failed in a way that may pass (SERVFAIL, no answer).
    case dnsTemporaryFailure
    /// The domain does not exist (NXDOMAIN).
    case nonexistentDomain
    /// The domain publishes a null MX: it accepts no mail (RFC 7505).
    case nullMX
}

/// How an outcome bears on a recipient, with what a DSN reports about it.
public struct DeliveryClassification: Sendable, Equatable {
    public enum Disposition: String, Sendable, CaseIterable {
        /// The next hop took responsibility for the message.
        case delivered
        /// Try again later (see `RetrySchedule`).
        case deferred
        /// Give up on this recipient and tell the sender.
        case failed

        /// The RFC 3463 class that goes with it.
        public var statusClass: Int {
            switch self {
            case .delivered: 2
            case .deferred: 4
            case .failed: 5
            }
        }
    }

    public var disposition: Disposition
    /// The RFC 3463 status for the DSN's Status field ("5.1.1"). Its class
    /// always agrees with `disposition`: 2 delivered, 4 deferred, 5 failed.
    public var status: String
    /// The DSN's diagnostic-type (RFC 3464 §2.3.6): "smtp" for a remote
    /// reply, "X-Postern" for what Postern saw itself (as Postfix writes
    /// "X-Postfix").
    public var diagnosticType: String
    /// The reply, or a short account of what went wrong.
    public var diagnostic: String

    public init(disposition: Disposition, status: String, diagnosticType: String, diagnostic: String) {
        self.disposition = disposition
        self.status = status
        self.diagnosticType = diagnosticType
        self.diagnostic = diagnostic
    }
}

/// Maps what happened on a delivery attempt to delivered, deferred or failed.
///
/// - 2xx: delivered. 4xx: deferred. 5xx: failed (RFC 5321 §4.2.1).
/// - Refused, lost or timed-out connections, TLS failures and temporary DNS
///   errors: deferred — each can pass, and the queue lifetime bounds the
///   wait. (A TLS failure is usually a certificate the operator will fix;
///   Postfix defers these too.)
/// - A nonexistent domain, or a null MX (RFC 7505 §3): failed at once.
/// - Any other reply code (1xx or 3xx where a final reply was due, or a
///   number out of range) is a protocol error and deferred.
///
/// The status reported is the server's enhanced code when it sent a valid
/// one, its class corrected to agree with the reply code (a "550 4.2.2"
/// fails as 5.2.2, as Postfix does); otherwise X.0.0 for a reply, and for
/// local outcomes the RFC 3463 / RFC 7505 code that names them.
public enum DeliveryOutcomeClassifier {
    public static func classify(_ outcome: DeliveryOutcome) -> DeliveryClassification {
        switch outcome {
        case .reply(let reply):
            return classify(reply)
        case .connectionRefused:
            return local(.deferred, "4.4.1", "connection refused") // X.4.1 no answer from host
        case .connectionLost:
            return local(.deferred, "4.4.2", "connection lost") // X.4.2 bad connection
        case .timeout:
            return local(.deferred, "4.4.2", "timed out")
        case .tlsFailure:
            return local(.deferred, "4.7.5", "TLS failure") // X.7.5 cryptographic failure
        case .dnsTemporaryFailure:
            return local(.deferred, "4.4.3", "temporary DNS failure") // X.4.3 directory server failure
        case .nonexistentDomain:
            return local(.failed, "5.1.2", "domain does not exist") // X.1.2 bad destination system address
        case .nullMX:
            return local(.failed, "5.1.10", "domain accepts no mail (null MX)") // RFC 7505 §3: X.1.10
        }
    }

    private static func classify(_ reply: RemoteReply) -> DeliveryClassification {
        let disposition: DeliveryClassification.Disposition
        switch reply.code {
        case 200..<300: disposition = .delivered
        case 400..<500: disposition = .deferred
        case 500..<600: disposition = .failed
        default: // X.5.0: other or undefined protocol status
            return DeliveryClassification(disposition: .deferred, status: "4.5.0", diagnosticType: "smtp",
                                          diagnostic: reply.diagnosticText)
        }
        let detail = reply.enhancedStatus.flatMap(subjectAndDetail) ?? "0.0"
        return DeliveryClassification(disposition: disposition, status: "\(disposition.statusClass).\(detail)",
                                      diagnosticType: "smtp", diagnostic: reply.diagnosticText)
    }

    /// "Y.Z" of a valid RFC 3463 code "X.Y.Z" (X is 2, 4 or 5; Y and Z 1–3 digits).
    static func subjectAndDetail(_ code: String) -> String? {
        let parts = code.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, ["2", "4", "5"].contains(parts[0]) else { return nil }
        let numeric = parts.dropFirst().allSatisfy { part in
            (1...3).contains(part.utf8.count) && part.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        }
        guard numeric, let subject = Int(parts[1]), let detail = Int(parts[2]) else { return nil }
        return "\(subject).\(detail)"
    }

    private static func local(_ disposition: DeliveryClassification.Disposition, _ status: String,
                              _ diagnostic: String) -> DeliveryClassification {
        DeliveryClassification(disposition: disposition, status: status, diagnosticType: "X-Postern",
                               diagnostic: diagnostic)
    }
}
