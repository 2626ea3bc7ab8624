import Foundation
import SMTPCore

/// What the queue knows about one message besides its body: who sent it,
/// to whom, and how delivery stands. Stored after the body in the message's
/// record (`msg/ID.msg`), or in a small file beside it (`msg/ID.env`) once
/// its status changed; see `MessageRecord`.
public struct Envelope: Sendable, Equatable {
    /// Which files hold a message on disk (DESIGN.md "On disk").
    public enum Layout: Sendable, Equatable {
        /// `ID.msg`: body, envelope and trailer in one file, plus an `ID.env`
        /// sidecar after the first status change; envelope version 4.
        case record
        /// `ID.eml` (body) and `ID.env` (envelope): queues written before
        /// the single-file record; envelope versions 1 to 3, read and
        /// updated in place, never converted.
        case pair
    }

    public enum State: String, Sendable, CaseIterable {
        case ready, deferred, hold, quarantine

        /// Ready or deferred: delivery may take it (not held, not quarantined).
        public var awaitsDelivery: Bool { self == .ready || self == .deferred }
    }

    public struct Recipient: Sendable, Equatable {
        public enum Status: String, Sendable, CaseIterable {
            case pending, delivered, deferred, failed

            /// Pending or deferred: still to be delivered.
            public var isUndelivered: Bool { self == .pending || self == .deferred }
        }

        /// The address without angle brackets ("Postmaster" allowed).
        public var address: String
        public var status: Status
        /// The last reply from the next hop, or why delivery failed.
        public var lastReply: String?
        /// NOTIFY and ORCPT as the client gave them (RFC 3461 §4.1, §4.2).
        public var dsn: RecipientParameters

        public init(address: String, status: Status = .pending, lastReply: String? = nil,
                    dsn: RecipientParameters = RecipientParameters()) {
            self.address = address
            self.status = status
            self.lastReply = lastReply
            self.dsn = dsn
        }

        /// The domain, lowercased; nil for an address without one (Postmaster).
        public var domain: String? {
            address.lastIndex(of: "@").map { address[address.index(after: $0)...].lowercased() }
        }
    }

    /// One delivery attempt for some of the recipients, kept in the
    /// envelope so `postern queue show` has the history after a restart.
    public struct Attempt: Sendable, Equatable {
        public enum Result: String, Sendable, CaseIterable {
            case delivered, deferred, failed
        }

        public var time: Date
        public var result: Result
        /// The host that answered (or was tried last); nil when none was reached.
        public var nextHop: String?
        /// Indices into `recipients`.
        public var recipients: [Int]
        /// The next hop's reply, or why delivery could not happen.
        public var reply: String

        public init(time: Date, result: Result, nextHop: String?, recipients: [Int], reply: String) {
            self.time = time
            self.result = result
            self.nextHop = nextHop
            self.recipients = recipients
            self.reply = reply
        }
    }

    /// Attempts kept per message: the newest, so the file stays small.
    public static let attemptHistoryLimit = 20

    public var id: QueueID
    public var created: Date
    /// The reverse-path without angle brackets; "" is the null sender.
    public var sender: String
    public var recipients: [Recipient]
    /// Size of the body in octets (trace headers included): the body file,
    /// or the part of the record before the envelope.
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
    /// RET= and ENVID= from MAIL (RFC 3461 §4.3, §4.4); nil when not given.
    public var dsnReturn: DSNReturn?
    public var envelopeID: String?
    /// A delay warning DSN was already sent for this message.
    public var delayWarned = false
    /// The newest delivery attempts, oldest first (at most `attemptHistoryLimit`).
    public private(set) var history: [Attempt] = []
    /// Header fields decided after the body was spooled (scanner verdicts,
    /// SPF, DKIM-Signature), complete lines with their CRLF: written ahead of
    /// the body whenever the message is sent or shown, so the body file is
    /// never copied or rewritten.
    public var addedHeaders: [String] = []
    /// Octets at the start of the body file that `addedHeaders` replace: the
    /// client's header section, when a filter edited it in place after the
    /// body was spooled (rspamd's remove_headers). 0 when the added fields
    /// only go on top. Format version 3 (older versions cannot honour it).
    public var bodyOffset = 0
    /// Why the policy quarantined the message (a scanner's verdict, the SPF
    /// result), for the quarantine Maildir's `X-Postern-Reason`; nil unless
    /// the state is `.quarantine`.
    public var quarantineReason: String?
    /// The quarantine ID this message was released from (by an operator or
    /// a user's IMAP move to Release). At start, a quarantine file still
    /// holding these recipients lost them in a crash between the queue
    /// commit and the file update: recovery finishes the update, so a
    /// release happens once.
    public var releasedFrom: QueueID?
    /// Where the message lives on disk: new messages are records; an
    /// envelope read from an older queue says `.pair` and keeps it.
    public var layout = Layout.record

    /// The message as sent or shown: added fields, then the body file from
    /// `bodyOffset`.
    public var messageSize: Int { size - bodyOffset + addedHeaders.reduce(0) { $0 + $1.utf8.count } }

    /// Records an attempt, dropping the oldest past the limit.
    public mutating func record(_ attempt: Attempt) {
        history.append(attempt)
        if history.count > Self.attemptHistoryLimit { history.removeFirst(history.count - Self.attemptHistoryLimit) }
    }

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
