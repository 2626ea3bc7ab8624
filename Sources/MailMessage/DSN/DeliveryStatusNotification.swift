import Foundation

/// A delivery status notification (RFC 3464): the message that tells a
/// sender what became of their mail — returned, delayed, or delivered when
/// they asked to know.
///
/// It renders as a `multipart/report; report-type=delivery-status`
/// (RFC 6522) with three parts: a text a person reads, the
/// `message/delivery-status` a program reads, and the original message's
/// header section (`text/rfc822-headers`; `message/global-headers`,
/// RFC 6533 §3, when it holds UTF-8). A failure report returns the whole
/// message instead (`message/rfc822`) only when the sender asked with
/// RET=FULL (RFC 3461 §4.3) and it is no larger than
/// `maxReturnedMessageBytes`; other reports never return the body.
///
/// The caller queues the rendered bytes like any other message, with two
/// rules that keep notifications from looping (RFC 3461 §6.2, RFC 5321
/// §4.5.5):
/// - the DSN's own envelope sender is the null reverse-path `<>`, and its
///   one recipient is `originalSender`;
/// - no DSN is ever made for a message whose sender was `<>` — the
///   initializer returns nil for it.
///
/// The DSN is 7-bit (non-ASCII recipient addresses use the "utf-8" address
/// type in its xtext form, RFC 6533 §3) unless the original message's
/// sender address or header section is UTF-8; such an original came with
/// SMTPUTF8, and its DSN is queued with the original's SMTPUTF8 and
/// 8BITMIME flags.
public struct DeliveryStatusNotification: Sendable, Equatable {
    /// Which notice this is; it sets the Subject and the opening text.
    public enum Kind: Sendable, Equatable, CaseIterable {
        /// Some recipients failed for good, or the queue lifetime ran out.
        case failure
        /// A warning: not delivered yet, still trying (RFC 3464 "delayed").
        case delay
        /// Delivered, for recipients that asked with NOTIFY=SUCCESS (RFC 3461 §4.1).
        case success
    }

    public var kind: Kind
    /// This host's name: the Reporting-MTA, the MAILER-DAEMON's domain and
    /// the right side of the Message-ID.
    public var reportingMTA: String
    /// The original message's envelope sender, to whom the DSN goes; never "".
    public let originalSender: String
    /// When the original message was queued (Arrival-Date).
    public var arrivalDate: Date
    /// The recipients this notice is about, each with its own report.
    public let recipients: [RecipientReport]
    /// The ENVID the client gave with MAIL (RFC 3461 §4.4), xtext-decoded.
    public var originalEnvelopeID: String?
    /// The original's queue ID, reported as X-Postern-Queue-ID so that an
    /// operator can find the message in the logs.
    public var queueID: String?
    /// The zone the dates are written in.
    public var timeZone: TimeZone = .current
    /// How much of the original message is looked at for its header
    /// section; a longer header section is cut at a field boundary.
    public var maxOriginalHeaderBytes: Int = DeliveryStatusNotification.defaultMaxOriginalHeaderBytes

    public static let defaultMaxOriginalHeaderBytes = 64 * 1024

    /// What of the original message goes back (RET, RFC 3461 §4.3).
    public enum ReturnedContent: Sendable, Equatable {
        /// The header section (RET=HDRS, and the default).
        case headers
        /// The whole message, in a failure report (RET=FULL).
        case fullMessage
    }

    /// What the sender asked to get back (RET=).
    public var returnedContent: ReturnedContent = .headers
    /// RET=FULL returns the whole original only up to this size, as
    /// Postfix's bounce_size_limit does; a larger one gets its headers back.
    public var maxReturnedMessageBytes: Int = DeliveryStatusNotification.defaultMaxOriginalHeaderBytes

    /// Nil when `originalSender` is the null sender (never notify `<>`,
    /// RFC 3461 §6.2) or there is no recipient to report on.
    public init?(kind: Kind, reportingMTA: String, originalSender: String, arrivalDate: Date,
                 recipients: [RecipientReport], originalEnvelopeID: String? = nil, queueID: String? = nil) {
        let sender = originalSender.trimmingCharacters(in: .whitespaces)
        guard !sender.isEmpty, sender != "<>", !recipients.isEmpty else { return nil }
        self.kind = kind
        self.reportingMTA = reportingMTA
        self.originalSender = sender
        self.arrivalDate = arrivalDate
        self.recipients = recipients
        self.originalEnvelopeID = originalEnvelopeID
        self.queueID = queueID
    }

    /// The Subject line, as Postfix words it (operators and filters know these).
    public var subject: String {
        switch kind {
        case .failure: "Undelivered Mail Returned to Sender"
        case .delay: "Delayed Mail (still being retried)"
        case .success: "Successful Mail Delivery Report"
        }
    }

    /// The complete message, CRLF line endings, no line over 998 octets.
    /// Only the first `maxOriginalHeaderBytes` of `originalMessage` are
    /// read for its headers, so a caller may pass just that much of a large
    /// body file; with RET=FULL pass up to `maxReturnedMessageBytes` + 1
    /// octets, so that a message over the limit shows it is.
    public func render(originalMessage: some Collection<UInt8>, now: Date) -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        return render(originalMessage: originalMessage, now: now, random: &random)
    }

    /// As `render(originalMessage:now:)`, drawing the MIME boundary from `random`.
    public func render(originalMessage: some Collection<UInt8>, now: Date,
                       random: inout some RandomNumberGenerator) -> [UInt8] {
        let headers = DSNOriginalHeaders(message: originalMessage, limit: maxOriginalHeaderBytes)
        let attached = attachment(originalMessage, headers: headers)
        let report = deliveryStatusFields()
        let parts: [DSNBodyPart] = [
            textPart(humanReadableText(attached: attached)),
            DSNBodyPart(headers: ["Content-Description: Delivery report",
                                  "Content-Type: message/delivery-status"],
                        body: Array(report.utf8)),
            attached == .wholeMessage ? messagePart(Array(originalMessage), headers: headers) : headersPart(headers),
        ]

        var boundary = Self.makeBoundary(&random)
        while parts.contains(where: { $0.contains(boundary: boundary) }) {
            boundary = Self.makeBoundary(&random)
        }

        var out: [UInt8] = []
        out.reserveCapacity(parts.reduce(2048) { $0 + $1.body.count })
        for line in messageHeaderLines(now: now, boundary: boundary) {
            out.append(contentsOf: line.utf8)
            out.append(contentsOf: DSNFormat.crlf)
        }
        out.append(contentsOf: DSNFormat.crlf)
        out.append(contentsOf: "This is a MIME-encapsulated message.\r\n".utf8)
        for part in parts {
            out.append(contentsOf: "\r\n--\(boundary)\r\n".utf8)
            for line in part.headers {
                out.append(contentsOf: line.utf8)
                out.append(contentsOf: DSNFormat.crlf)
            }
            out.append(contentsOf: DSNFormat.crlf)
            out.append(contentsOf: part.body)
        }
        out.append(contentsOf: "\r\n--\(boundary)--\r\n".utf8)
        return out
    }

    // MARK: Pieces

    private func messageHeaderLines(now: Date, boundary: String) -> [String] {
        let host = DSNFormat.oneLine(reportingMTA)
        let uniquePart = queueID.map { DSNFormat.messageIDSafe($0) + ".dsn" } ?? "dsn"
        return [
            "From: Mail Delivery System <MAILER-DAEMON@\(host)>",
            DSNFormat.fold("To: \(DSNFormat.oneLine(originalSender))"),
            "Subject: \(subject)",
            "Date: \(MessageDate.string(from: now, timeZone: timeZone))",
            "Message-ID: \(MessageID.generate(uniquePart: uniquePart, domain: host))",
            "Auto-Submitted: auto-replied", // RFC 3834 §5
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"\(boundary)\"",
        ]
    }

    private func textPart(_ text: String) -> DSNBodyPart {
        let description = "Content-Description: Notification"
        guard text.utf8.contains(where: { $0 >= 0x80 }) else {
            return DSNBodyPart(headers: [description, "Content-Type: text/plain; charset=us-ascii"],
                               body: Array(text.utf8))
        }
        return DSNBodyPart(headers: [description, "Content-Type: text/plain; charset=utf-8",
                                     "Content-Transfer-Encoding: quoted-printable"],
                           body: DSNFormat.quotedPrintable(text))
    }

    /// What goes back of `original`: RET=FULL is honoured only in a
    /// failure report (RFC 3461 §4.3) and within the size limit.
    private func attachment(_ original: some Collection<UInt8>, headers: DSNOriginalHeaders) -> OriginalAttachment {
        guard kind == .failure, returnedContent == .fullMessage else { return .headers(truncated: headers.isTruncated) }
        return original.count <= maxReturnedMessageBytes ? .wholeMessage : .headersOfLargeMessage(limit: maxReturnedMessageBytes)
    }

    /// The whole original (RFC 3462 §2: message/rfc822; message/global,
    /// RFC 6533 §3, when its header section holds UTF-8). Its lines end in
    /// CRLF already: it comes from the queue.
    private func messagePart(_ original: [UInt8], headers: DSNOriginalHeaders) -> DSNBodyPart {
        var fields = ["Content-Description: Undelivered Message",
                      headers.isEightBit ? "Content-Type: message/global" : "Content-Type: message/rfc822"]
        if original.contains(where: { $0 >= 0x80 }) { fields.append("Content-Transfer-Encoding: 8bit") }
        return DSNBodyPart(headers: fields, body: original)
    }

    private func headersPart(_ headers: DSNOriginalHeaders) -> DSNBodyPart {
        let description = "Content-Description: Undelivered Message Headers"
        guard headers.isEightBit else {
            return DSNBodyPart(headers: [description, "Content-Type: text/rfc822-headers"], body: headers.bytes)
        }
        return DSNBodyPart(headers: [description, "Content-Type: message/global-headers",
                                     "Content-Transfer-Encoding: 8bit"], body: headers.bytes)
    }

    /// "=_" never occurs in quoted-printable text (RFC 2045 §6.7), the rest
    /// is 64 random bits; `render` still checks the parts for it.
    private static func makeBoundary(_ random: inout some RandomNumberGenerator) -> String {
        let bits = random.next() as UInt64
        return "=_postern-dsn-" + String(bits, radix: 36)
    }
}

/// What the report's third part holds, and the closing words that say so.
enum OriginalAttachment: Equatable {
    /// The header section, cut short when it was very long.
    case headers(truncated: Bool)
    /// The whole message (RET=FULL).
    case wholeMessage
    /// RET=FULL, but the message was over the limit: its header section.
    case headersOfLargeMessage(limit: Int)
}

/// One body part of the report: its header lines and its body (CRLF lines).
struct DSNBodyPart {
    var headers: [String]
    var body: [UInt8]

    /// Whether a line of the body starts with "--boundary".
    func contains(boundary: String) -> Bool {
        let delimiter = Array("--\(boundary)".utf8)
        var lineStart = body.startIndex
        while lineStart < body.endIndex {
            if body[lineStart...].starts(with: delimiter) { return true }
            guard let newline = body[lineStart...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            lineStart = newline + 1
        }
        return false
    }
}
