import Foundation
import Logging
import MailMessage
import NIOCore
import Policy
import SMTPCore

/// One configured scanner: the rule, its back end and its gate.
public struct ConfiguredScanner: Sendable {
    public let rule: ScanRule
    public let scanner: any ContentScanner
    public let gate: ScannerGate

    public init(rule: ScanRule, scanner: any ContentScanner, gate: ScannerGate) {
        self.rule = rule
        self.scanner = scanner
        self.gate = gate
    }
}

/// What one scanner made of one message, or why it was not asked.
public struct ScanResult: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case verdict(ScanVerdict)
        /// Larger than the rule's max_size: not sent.
        case oversized(size: Int, limit: Int)
        /// The breaker is open: not asked.
        case breakerOpen
    }

    public var name: String
    public var outcome: Outcome
    /// How long the scanner took (microseconds: `postern scan --repeat`
    /// times scans well under a millisecond).
    public var microseconds: Int
    /// Whole milliseconds, for the log line.
    public var milliseconds: Int { microseconds / 1000 }

    public init(name: String, outcome: Outcome, microseconds: Int) {
        self.name = name
        self.outcome = outcome
        self.microseconds = microseconds
    }

    /// "clamd=clean/3ms", "spamd=spam 7.1/5.0/90ms" for the message's log line.
    public var logText: String {
        let text: String
        switch outcome {
        case .verdict(let verdict): text = verdict.summary
        case .oversized(let size, let limit): text = "skipped (\(size) octets over max_size \(limit))"
        case .breakerOpen: text = "skipped (breaker open)"
        }
        return "\(name)=\(text)/\(milliseconds)ms"
    }
}

/// The `[[scan]]` step of a policy: every scanner of the message runs at
/// once, each through its gate (messages in flight, circuit breaker), and
/// their verdicts are combined with the rules' actions into one policy
/// verdict. Added fields go into the envelope (no body copy).
public struct ScanFilter: PolicyFilter {
    public let name = "scan"
    public let phases: Set<PolicyPipeline.Phase> = [.content]
    public let scanners: [ConfiguredScanner]
    let hostname: String
    let logger: Logger

    public init(scanners: [ConfiguredScanner], hostname: String, logger: Logger = Logger(label: "postern.scan")) {
        self.scanners = scanners
        self.hostname = hostname
        self.logger = logger
    }

    public func content(_ session: SessionFacts, _ message: MessageFacts, content: ReceivedContent) async -> PolicyVerdict {
        let source = content.path.map { MessageSource(path: $0, size: content.size) }
            ?? MessageSource(bytes: content.bytes ?? [])
        let request = ScanRequest(message: source, clientIP: session.clientIP?.description, helo: session.helo,
                                  sender: message.sender.mailbox?.description ?? "",
                                  recipients: message.recipients.map(\.address), queueID: content.id,
                                  user: session.user, hostname: hostname)
        let results = await scanAll(request)
        var subject: String?
        if results.contains(where: { ScanDecision.wantsSubject($0, scanners: scanners) }) {
            // Decoded (RFC 2047): the tagged subject is encoded again when written.
            subject = HeaderSection(parsing: (try? await source.head(64 * 1024)) ?? []).first("Subject")
                .map { EncodedWord.decode($0.value) } ?? ""
        }
        return ScanDecision.combine(results, scanners: scanners, hostname: hostname, subject: subject)
    }

    /// Runs every scanner on the message at once; results in rule order.
    public func scanAll(_ request: ScanRequest) async -> [ScanResult] {
        await withTaskGroup(of: (Int, ScanResult).self) { group in
            for (index, configured) in scanners.enumerated() {
                group.addTask { (index, await Self.scan(request, with: configured, logger: logger)) }
            }
            var results = [ScanResult?](repeating: nil, count: scanners.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
    }

    static func scan(_ request: ScanRequest, with configured: ConfiguredScanner, logger: Logger) async -> ScanResult {
        let rule = configured.rule, gate = configured.gate
        let started = ContinuousClock.now
        func result(_ outcome: ScanResult.Outcome) -> ScanResult {
            let elapsed = ContinuousClock.now - started
            let label: String
            switch outcome {
            case .verdict(let verdict): label = verdict.metricLabel
            case .oversized: label = "skipped"
            case .breakerOpen: label = "breaker_open"
            }
            ScanMetrics.count(scanner: rule.name, result: label)
            return ScanResult(name: rule.name, outcome: outcome, microseconds: Int(elapsed / .microseconds(1)))
        }
        if let limit = rule.maxSize, request.message.size > limit {
            return result(.oversized(size: request.message.size, limit: limit))
        }
        let admission = gate.admit()
        if admission == .open { return result(.breakerOpen) }
        let timeout = Duration.milliseconds(Int64(rule.timeoutSeconds * 1000))
        guard await gate.acquire(timeout: timeout) else {
            // Waiting for a slot counts as the scanner being too slow.
            noteHealth(gate, rule: rule, success: false, logger: logger)
            return result(.verdict(.error("no free slot within \(ScanVerdict.score(rule.timeoutSeconds)) s (max_in_flight \(rule.maxInFlight))")))
        }
        let scanStarted = ContinuousClock.now
        let verdict = await configured.scanner.scan(request)
        gate.release()
        ScanMetrics.duration(scanner: rule.name, nanoseconds: Int64((ContinuousClock.now - scanStarted) / .nanoseconds(1)))
        if case .error = verdict { noteHealth(gate, rule: rule, success: false, logger: logger) }
        else { noteHealth(gate, rule: rule, success: true, logger: logger) }
        return result(.verdict(verdict))
    }

    private static func noteHealth(_ gate: ScannerGate, rule: ScanRule, success: Bool, logger: Logger) {
        switch gate.record(success: success) {
        case .opened:
            logger.warning("scanner breaker open", metadata: ["scanner": "\(rule.name)", "failures": "\(rule.failureLimit)",
                                                              "cool_down": "\(ScanVerdict.score(rule.coolDownSeconds))s"])
            ScanMetrics.breaker(scanner: rule.name, open: true)
        case .closed:
            logger.notice("scanner breaker closed", metadata: ["scanner": "\(rule.name)"])
            ScanMetrics.breaker(scanner: rule.name, open: false)
        case .none:
            break
        }
    }
}

extension ScanVerdict {
    var metricLabel: String {
        switch self {
        case .clean: return "clean"
        case .infected: return "infected"
        case .scored(let report): return report.isSpam ? "spam" : "ham"
        case .tooLarge: return "too_large"
        case .error: return "error"
        }
    }
}
