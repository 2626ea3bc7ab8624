import Foundation

/// What the queue knows about one message besides its body: who sent it,
/// to whom, and how delivery stands. Stored as a small text file next to
/// the body; status changes rewrite only this file.
public struct Envelope: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        case ready, deferred, hold, quarantine
    }

    public struct Recipient: Sendable, Equatable {
        public enum Status: String, Sendable, CaseIterable {
            case pending, delivered, deferred, failed
        }

        /// The address without angle brackets ("Postmaster" allowed).
        public var address: String
        public var status: Status
        /// The last reply from the next hop, or why delivery failed.
        public var lastReply: String?

        public init(address: String, status: Status = .pending, lastReply: String? = nil) {
            self.address = address
            self.status = status
            self.lastReply = lastReply
        }
    }

    public var id: QueueID
    public var created: Date
    /// The reverse-path without angle brackets; "" is the null sender.
    public var sender: String
    public var recipients: [Recipient]
    /// Size of the body file in octets (trace headers included).
    public var size: Int
    public var state: State
    public var attempts: Int
    public var nextAttempt: Date?
    public var lastReply: String?
    public var clientAddress: String
    public var clientHelo: String?
    /// "ESMTP", "ESMTPS", "ESMTPSA" … as in the Received line.
    public var receivedProtocol: String
    /// BODY=8BITMIME and SMTPUTF8 were given (delivery must honour them).
    public var eightBitMIME: Bool
    public var smtpUTF8: Bool
    /// A delay warning DSN was already sent for this message.
    public var delayWarned = false

    public init(id: QueueID, created: Date = Date(), sender: String, recipients: [Recipient], size: Int,
                state: State = .ready, attempts: Int = 0, nextAttempt: Date? = nil, lastReply: String? = nil,
                clientAddress: String, clientHelo: String?, receivedProtocol: String,
                eightBitMIME: Bool = false, smtpUTF8: Bool = false) {
        self.id = id
        self.created = created
        self.sender = sender
        self.recipients = recipients
        self.size = size
        self.state = state
        self.attempts = attempts
        self.nextAttempt = nextAttempt
        self.lastReply = lastReply
        self.clientAddress = clientAddress
        self.clientHelo = clientHelo
        self.receivedProtocol = receivedProtocol
        self.eightBitMIME = eightBitMIME
        self.smtpUTF8 = smtpUTF8
    }
}
