import DNSModel
import SMTPCore
import SPF

/// SPF (RFC 7208) at MAIL FROM: the HELO identity first when asked (§2.3),
/// then the MAIL FROM identity (postmaster@HELO for the null sender). The
/// policy picks the action per result; whatever passes is tagged with
/// Received-SPF (§9.1) and Authentication-Results (RFC 8601) — unless DMARC
/// runs, which writes one Authentication-Results field with every result.
public struct SPFFilter: PolicyFilter {
    public let name = "spf"
    public let phases: Set<PolicyPipeline.Phase> = [.mail]
    let settings: PolicyConfig.SPFSettings
    let trusted: [IPNetwork]
    let evaluator: SPFEvaluator
    /// Our name: `receiver=` and the authserv-id.
    let hostname: String
    /// False when the DMARC filter writes the Authentication-Results field.
    let writesAuthenticationResults: Bool

    public init(settings: PolicyConfig.SPFSettings, trusted: [IPNetwork], evaluator: SPFEvaluator, hostname: String,
                writesAuthenticationResults: Bool = true) {
        self.settings = settings
        self.trusted = trusted
        self.evaluator = evaluator
        self.hostname = hostname
        self.writesAuthenticationResults = writesAuthenticationResults
    }

    public func mail(_ session: SessionFacts, _ message: MessageFacts) async -> PolicyVerdict {
        // Results that claim to be ours but arrived with the message are forged.
        let dropForged = [HeaderEdit.removeAuthenticationResults(authservID: hostname)]
        if settings.skipAuthenticated, let user = session.user {
            return PolicyVerdict(.continue, headerEdits: dropForged, note: "skipped: authenticated as \(user)")
        }
        if settings.skipTrusted, trusted.contains(session.clientIP) {
            return PolicyVerdict(.continue, headerEdits: dropForged, note: "skipped: trusted network")
        }
        guard let ip = session.clientIP else {
            return PolicyVerdict(.continue, headerEdits: dropForged, note: "skipped: no client address")
        }
        let helo = session.helo ?? ""
        if settings.checkHELO, Self.isDomainName(helo) {
            let heloResult = await evaluator.checkHELO(ip: ip, helo: helo)
            PolicyMetrics.count(heloResult)
            // A HELO that fails decides on its own (§2.3); otherwise go on to MAIL FROM.
            if heloResult.verdict == .fail, action(for: .fail) != .accept {
                return verdict(for: heloResult, ip: ip, session: session, message: message)
            }
        }
        let result = await evaluator.check(ip: ip, sender: message.sender.spfAddress, helo: helo)
        PolicyMetrics.count(result)
        return verdict(for: result, ip: ip, session: session, message: message)
    }

    func action(for verdict: SPFVerdict) -> PolicyConfig.SPFSettings.Action {
        switch verdict {
        case .pass: return settings.pass
        case .fail: return settings.fail
        case .softfail: return settings.softfail
        case .neutral: return settings.neutral
        case .none: return settings.none
        case .temperror: return settings.temperror
        case .permerror: return settings.permerror
        }
    }

    private func verdict(for result: SPFResult, ip: IPAddress, session: SessionFacts, message: MessageFacts) -> PolicyVerdict {
        let note = "\(result.verdict.rawValue) for \(result.identity.rawValue) \(result.domain) (\(result.decidedBy))"
        let isError = result.verdict == .temperror || result.verdict == .permerror
        let headers = SPFHeaders(result: result, ip: ip, helo: session.helo, sender: message.sender, receiver: hostname)
        var edits: [HeaderEdit] = [
            .removeAuthenticationResults(authservID: hostname),
            .prepend(name: "Received-SPF", value: headers.receivedSPF),
        ]
        if writesAuthenticationResults {
            edits.append(.prepend(name: "Authentication-Results", value: headers.authenticationResults))
        }
        switch action(for: result.verdict) {
        case .accept:
            var verdict = PolicyVerdict(.continue, headerEdits: edits, note: note)
            verdict.spf = result
            return verdict
        case .quarantine:
            var verdict = PolicyVerdict(.quarantine(reason: "SPF \(note)"), headerEdits: edits, note: note)
            verdict.spf = result
            return verdict
        case .reject:
            // RFC 7372: X.7.23 SPF validation failed, X.7.24 SPF validation error.
            let text: String
            switch result.verdict {
            case .fail: text = "SPF fail: " + (result.explanation ?? "\(result.domain) does not designate \(ip) as permitted sender")
            case .permerror: text = "SPF permanent error for \(result.domain): \(result.decidedBy)"
            default: text = "SPF \(result.verdict.rawValue) for \(result.domain) refused by policy"
            }
            return .reject(550, EnhancedStatusCode(5, 7, isError ? 24 : 23), text, note: note)
        case .tempfail:
            let text = result.verdict == .temperror
                ? "SPF temporary error for \(result.domain), try again later"
                : "SPF \(result.verdict.rawValue) for \(result.domain), try again later"
            return .tempfail(451, EnhancedStatusCode(4, 7, isError ? 24 : 23), text, note: note)
        }
    }

    static func isDomainName(_ text: String) -> Bool {
        text.contains(".") && !text.hasPrefix("[") && IPAddress(text) == nil
    }
}
