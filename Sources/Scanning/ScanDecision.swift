import Policy
import SMTPCore

/// Turns scan results into one policy verdict with the rules' actions
/// (pure: tested with tables). The strongest decision wins: reject, then
/// tempfail, discard, quarantine; header fields from every scanner ride
/// along when the message is accepted.
public enum ScanDecision {
    enum Strength: Int, Comparable {
        case none, quarantine, discard, tempfail, reject
        static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    struct Part {
        var strength = Strength.none
        var decision = PolicyVerdict.Decision.continue
        var edits: [HeaderEdit] = []

        mutating func raise(_ strength: Strength, _ decision: PolicyVerdict.Decision) {
            guard strength > self.strength else { return }
            self.strength = strength
            self.decision = decision
        }
    }

    static let virusReply = "Virus found:"
    /// Fields a client could forge to make spam look checked (SpamAssassin's own names).
    static let spamFields = ["X-Spam-Flag", "X-Spam-Score", "X-Spam-Status"]

    public static func combine(_ results: [ScanResult], scanners: [ConfiguredScanner], hostname: String,
                               subject: String? = nil) -> PolicyVerdict {
        var combined = Part()
        // With a spam scanner configured, a sender's own X-Spam fields go
        // whatever the scanner said (skipped, failed or scored).
        if scanners.contains(where: { !$0.rule.backend.isVirusScanner }) {
            combined.edits = spamFields.map { HeaderEdit.remove(name: $0) }
        }
        for result in results {
            guard let rule = scanners.first(where: { $0.rule.name == result.name })?.rule else { continue }
            let part = evaluate(result, rule: rule, hostname: hostname, subject: subject)
            combined.edits += part.edits
            combined.raise(part.strength, part.decision)
        }
        let note = results.map(\.logText).joined(separator: " ")
        guard combined.strength < .discard else { return PolicyVerdict(combined.decision, note: note) }
        // Prepended fields stack (the last one ends on top): hand them over
        // reversed so the message shows them in rule order, each rule's as written.
        let prepends = combined.edits.filter { if case .prepend = $0 { true } else { false } }
        let others = combined.edits.filter { if case .prepend = $0 { false } else { true } }
        return PolicyVerdict(combined.decision, headerEdits: others + prepends.reversed(), note: note)
    }

    /// How a spam verdict rewrites the Subject: with the scanner's own, or
    /// the rule's tag in front of the current one.
    enum SubjectRewrite: Equatable {
        case given(String)
        case tagged(String)
    }

    /// The Subject rewrite a report calls for, if any: the scanner asks
    /// (rspamd's rewrite subject) or the score reaches the tag score with a
    /// subject_tag set.
    static func subjectRewrite(_ report: SpamReport, rule: ScanRule) -> SubjectRewrite? {
        let scannerAsks = rule.useScannerAction && report.action == .rewriteSubject
        guard scannerAsks || (rule.subjectTag != nil && report.score >= (rule.tagScore ?? report.threshold)) else { return nil }
        if rule.useScannerAction, let given = report.subject { return .given(given) }
        return rule.subjectTag.map(SubjectRewrite.tagged)
    }

    /// Whether a result will tag the current Subject (so the caller reads it).
    static func wantsSubject(_ result: ScanResult, scanners: [ConfiguredScanner]) -> Bool {
        guard case .verdict(.scored(let report)) = result.outcome,
              let rule = scanners.first(where: { $0.rule.name == result.name })?.rule,
              case .tagged = subjectRewrite(report, rule: rule) else { return false }
        return true
    }

    static func evaluate(_ result: ScanResult, rule: ScanRule, hostname: String, subject: String?) -> Part {
        var part = Part()
        switch result.outcome {
        case .oversized(let size, let limit):
            part.edits = [.prepend(name: "X-Postern-Scan", value: "\(rule.name) skipped: \(size) octets over max_size \(limit)")]
        case .breakerOpen:
            failed(rule, reason: "scanner unavailable (circuit breaker open)", into: &part)
        case .verdict(.tooLarge(let why)):
            part.edits = [.prepend(name: "X-Postern-Scan", value: "\(rule.name) skipped: \(why)")]
        case .verdict(.error(let why)):
            failed(rule, reason: why, into: &part)
        case .verdict(.clean):
            part.edits = [.prepend(name: "X-Virus-Scanned", value: "clean by \(rule.name) at \(hostname)")]
        case .verdict(.infected(let name)):
            let safe = printable(name)
            switch rule.virus {
            case .reject:
                part.raise(.reject, .reject(SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 7, 1), text: "\(virusReply) \(safe)")))
            case .quarantine: part.raise(.quarantine, .quarantine(reason: "virus \(safe) (\(rule.name))"))
            case .discard: part.raise(.discard, .discard(reason: "virus \(safe) (\(rule.name))"))
            }
        case .verdict(.scored(let report)):
            spam(report, rule: rule, subject: subject, into: &part)
        }
        return part
    }

    private static func failed(_ rule: ScanRule, reason: String, into part: inout Part) {
        switch rule.onError {
        case .tempfail:
            part.raise(.tempfail, .tempfail(SMTPReply(code: 451, enhanced: EnhancedStatusCode(4, 7, 1),
                                                      text: "Message cannot be scanned now, try again later")))
        case .accept:
            part.edits = [.prepend(name: "X-Postern-Scan", value: "\(rule.name) not scanned: \(printable(reason))")]
        }
    }

    private static func spam(_ report: SpamReport, rule: ScanRule, subject: String?, into part: inout Part) {
        let tag = rule.tagScore ?? report.threshold
        var flagged = report.score >= tag
        let score = ScanVerdict.score(report.score)
        if let reject = rule.rejectScore, report.score >= reject {
            part.raise(.reject, .reject(SMTPReply(code: 550, enhanced: EnhancedStatusCode(5, 7, 1), text: "Message refused as spam")))
        }
        if let quarantine = rule.quarantineScore, report.score >= quarantine {
            part.raise(.quarantine, .quarantine(reason: "spam score \(score) (\(rule.name))"))
        }
        if rule.useScannerAction {
            switch report.action {
            case .reject:
                part.raise(.reject, .reject(SMTPReply(code: 550, enhanced: EnhancedStatusCode(5, 7, 1), text: "Message refused as spam")))
            case .softReject:
                part.raise(.tempfail, .tempfail(SMTPReply(code: 451, enhanced: EnhancedStatusCode(4, 7, 1), text: "Try again later")))
            case .greylist:
                part.raise(.tempfail, .tempfail(SMTPReply(code: 451, enhanced: EnhancedStatusCode(4, 7, 1), text: "Greylisted, try again later")))
            case .rewriteSubject, .addHeader:
                flagged = true
            case .noAction:
                break
            }
        }
        // ", " lets the field fold between symbols (rspamd sends dozens).
        let symbols = printable(report.symbols.joined(separator: ", "), limit: 4000)
        part.edits.append(.prepend(name: "X-Spam-Flag", value: flagged ? "YES" : "NO"))
        part.edits.append(.prepend(name: "X-Spam-Score", value: score))
        part.edits.append(.prepend(name: "X-Spam-Status", value: "\(flagged ? "Yes" : "No"), score=\(score) required=\(ScanVerdict.score(tag))"
            + " tests=\(symbols.isEmpty ? "none" : symbols) scanner=\(rule.name)"))
        if rule.useScannerAction {
            for field in report.removeHeaders where isSafeName(field) { part.edits.append(.remove(name: field)) }
            for field in report.addHeaders where isSafeName(field.name) {
                part.edits.append(.prepend(name: field.name, value: printable(field.value)))
            }
        }
        if let rewrite = subjectRewrite(report, rule: rule) {
            let new: String
            switch rewrite {
            case .given(let given): new = given
            case .tagged(let tag): new = "\(tag) \(subject ?? "")"
            }
            part.edits += [.remove(name: "Subject"), .append(name: "Subject", value: subjectText(new))]
        }
    }

    /// Scanner text goes into trace fields and replies: printable ASCII
    /// only (a CR/LF would start a new field or reply line; trace fields are
    /// not RFC 2047-encoded and SMTP replies are ASCII).
    static func printable(_ text: String, limit: Int = 200) -> String {
        String(text.unicodeScalars.map { scalar -> Character in
            scalar.value < 0x20 || scalar.value == 0x7F ? " " : scalar.value > 0x7E ? "?" : Character(scalar)
        }.prefix(limit))
    }

    /// A subject keeps its letters (the rewriter encodes them, RFC 2047);
    /// only controls go.
    static func subjectText(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) }.prefix(2000))
    }

    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { $0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: ":") }
    }
}
