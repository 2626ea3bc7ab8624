// The scanners' replies (clamd, spamd, rspamd's JSON) as a broken or
// hostile scanner could send them. The first byte picks the parser.
// Invariants: a verdict names something (an infected verdict has a
// non-empty name; scores are finite), and whatever it says, the policy
// step turns it into header fields and replies without CR, LF or NUL.
import Policy
@testable import Scanning

enum ScannerTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let selector = bytes.first else { return }
        let reply = Array(bytes.dropFirst())
        let backend: ScanRule.Backend
        let verdict: ScanVerdict
        switch selector % 3 {
        case 0: backend = .clamd; verdict = ClamdScanner.verdict(reply: reply)
        case 1: backend = .spamd; verdict = SpamdScanner.verdict(reply: reply)
        default: backend = .rspamd; verdict = RspamdScanner.verdict(json: reply)
        }
        switch verdict {
        case .infected(let name): invariant(!name.isEmpty, "an infected verdict without a name")
        case .scored(let report): invariant(report.score.isFinite && report.threshold.isFinite, "score \(report.score)/\(report.threshold)")
        default: break
        }
        _ = verdict.summary
        var rule = ScanRule(backend: backend)
        rule.subjectTag = "[SPAM]"
        let result = ScanResult(name: rule.name, outcome: .verdict(verdict), microseconds: 1000)
        let gate = ScannerGate(maxInFlight: 1, failureLimit: 1, coolDown: .seconds(1))
        let decided = ScanDecision.combine([result], scanners: [ConfiguredScanner(rule: rule, scanner: Silent(), gate: gate)],
                                           hostname: "fuzz.test", subject: "s")
        for edit in decided.headerEdits {
            switch edit {
            case .prepend(let name, let value), .append(let name, let value):
                invariant(!(name + value).unicodeScalars.contains(where: isLineBreakOrNUL), "control in \(name): \(value)")
            default: break
            }
        }
        if let refusal = decided.refusal {
            invariant(!refusal.lines.joined().unicodeScalars.contains(where: isLineBreakOrNUL), "control in \(refusal)")
        }
        _ = result.logText
    }

    /// Scalars, not Characters: "\r\n" is one Character equal to neither.
    static func isLineBreakOrNUL(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\r" || scalar == "\n" || scalar == "\0"
    }

    struct Silent: ContentScanner {
        let kind = "silent"
        func scan(_ request: ScanRequest) async -> ScanVerdict { .clean }
        func ping() async -> Bool { true }
    }
}
