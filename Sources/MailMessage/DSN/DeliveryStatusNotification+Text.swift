import Foundation

extension DeliveryStatusNotification {
    /// The first part, for the person who sent the message: what happened,
    /// to which recipients and why, in plain words. Recipients are grouped
    /// by action; lines are wrapped at 76 columns. CRLF line endings.
    func humanReadableText(attached: OriginalAttachment) -> String {
        var paragraphs: [String] = []
        paragraphs.append("This is the mail delivery system at \(DSNFormat.oneLine(reportingMTA)).")
        var about = "This report is about your message of \(date(arrivalDate))"
        if let queueID { about += " (queue ID \(DSNFormat.oneLine(queueID)))" }
        paragraphs.append(about + ".")

        for action in RecipientReport.Action.allCases {
            let group = recipients.filter { $0.action == action }
            guard !group.isEmpty else { continue }
            paragraphs.append(introduction(for: action, group: group))
            paragraphs += group.map(recipientLine)
        }

        var closing: String
        switch attached {
        case .headers(let truncated):
            closing = "The headers of your message are attached"
            closing += truncated ? ", cut short because they are very long." : "."
        case .wholeMessage:
            closing = "Your message is attached."
        case .headersOfLargeMessage(let limit):
            closing = "The headers of your message are attached; the whole message is too large"
                + " to return (over \(limit) octets)."
        }
        if kind != .success {
            closing += " If you need help, forward this whole report to your postmaster."
        }
        paragraphs.append(closing)

        return paragraphs.map { paragraph in
            DSNFormat.wrap(paragraph, width: 76, indent: paragraph.hasPrefix("<") ? "    " : "")
                .map { $0 + "\r\n" }.joined()
        }.joined(separator: "\r\n")
    }

    private func introduction(for action: RecipientReport.Action, group: [RecipientReport]) -> String {
        switch action {
        case .failed:
            return "Your message could not be delivered to the recipients below. The delivery"
                + " system has given up on them; you may want to check the addresses, or send"
                + " the message again later."
        case .delayed:
            var text = "Your message has not been delivered yet to the recipients below. This is"
                + " only a warning: you do not need to send the message again."
            if let until = group.compactMap(\.willRetryUntil).max() {
                text += " The delivery system is still trying until \(date(until)), and will tell"
                    + " you if it gives up."
            } else {
                text += " The delivery system is still trying, and will tell you if it gives up."
            }
            return text
        case .delivered:
            return "Your message was delivered to the recipients below."
        case .relayed:
            return "Your message was passed on for the recipients below to systems that do not"
                + " report on delivery; you may not hear more about it."
        case .expanded:
            return "Your message was delivered to the mailing lists or aliases below, which"
                + " passed it on to their members."
        }
    }

    /// "<bob@example.org>: host mx.example.org said: 550 5.1.1 …"
    private func recipientLine(_ report: RecipientReport) -> String {
        let address = "<\(DSNFormat.oneLine(report.finalRecipient))>"
        let host = report.remoteMTA.map(DSNFormat.oneLine)
        guard let diagnostic = report.diagnostic else {
            let at = host.map { " at \($0)" } ?? ""
            return "\(address): status \(report.validStatus)\(at)"
        }
        let text = DSNFormat.oneLine(diagnostic.text)
        if let host {
            return diagnostic.isSMTPReply
                ? "\(address): host \(host) said: \(text)"
                : "\(address): \(text) (\(host))"
        }
        return "\(address): \(text)"
    }
}
