import DKIM
import DMARC
import DNSModel
import Foundation
import MailMessage
import SMTPCore
import SPF

/// DKIM verification and DMARC (RFC 7489) at the end of DATA, for mail from
/// the world: every signature verified over the spooled message, DMARC
/// evaluated with them and the SPF result of MAIL FROM, the outcome written
/// as one Authentication-Results field (RFC 8601), and a failure the
/// domain's policy asks to refuse or quarantine handled as configured.
public struct DMARCFilter: PolicyFilter {
    public let name = "dmarc"
    public let phases: Set<PolicyPipeline.Phase> = [.content]
    let settings: PolicyConfig.DMARCSettings
    let trusted: [IPNetwork]
    let verifier: DKIMVerifier
    let evaluator: DMARCEvaluator
    let authservID: String
    /// Draws the number `pct` is compared with (RFC 7489 §6.6.4); fixed in tests.
    let sample: @Sendable () -> Int

    public init(settings: PolicyConfig.DMARCSettings, trusted: [IPNetwork], verifier: DKIMVerifier,
                evaluator: DMARCEvaluator, hostname: String, sample: @escaping @Sendable () -> Int = { Int.random(in: 0..<100) }) {
        self.settings = settings
        self.trusted = trusted
        self.verifier = verifier
        self.evaluator = evaluator
        self.authservID = settings.authservID ?? hostname
        self.sample = sample
    }

    /// The filter a policy's `[dmarc]` asks for, nil when it is off or no
    /// resolver is configured; reads the Public Suffix List (so a missing
    /// list stops the start or the reload, and says why).
    public static func make(policy: PolicyConfig, resolver: (any DNSResolver)?, hostname: String) throws -> DMARCFilter? {
        guard policy.dmarc.enabled, let resolver else { return nil }
        let suffixes = try PublicSuffixList(contentsOf: policy.dmarc.publicSuffixList)
        return DMARCFilter(settings: policy.dmarc, trusted: policy.relay.trustedNetworks, verifier: DKIMVerifier(resolver: resolver),
                           evaluator: DMARCEvaluator(resolver: resolver, suffixes: suffixes), hostname: hostname)
    }

    public func content(_ session: SessionFacts, _ message: MessageFacts, content: ReceivedContent) async -> PolicyVerdict {
        // Results claiming to be ours that came with the message are forged (RFC 8601 §5).
        var edits = [HeaderEdit.removeAuthenticationResults(authservID: authservID)]
        if settings.skipAuthenticated, let user = session.user {
            return PolicyVerdict(.continue, headerEdits: edits, note: "skipped: authenticated as \(user)")
        }
        if settings.skipTrusted, trusted.contains(session.clientIP) {
            return PolicyVerdict(.continue, headerEdits: edits, note: "skipped: trusted network")
        }
        let signatures: [DKIMSignatureResult], headers: HeaderSection
        do {
            (signatures, headers) = try await verify(content)
        } catch {
            return .tempfail(451, EnhancedStatusCode(4, 3, 0), "Cannot check the message now, try again later",
                             note: "cannot read the spooled message: \(error)")
        }
        let dkim = signatures.compactMap { signature in
            signature.domain.map { AuthenticatedIdentifier(passed: signature.result == .pass, domain: $0) }
        }
        let spf = message.spf.flatMap { Self.identifier($0, sender: message.sender) }
        let dmarc: DMARCResult
        switch AuthorDomain.extract(from: headers) {
        case .success(let domain):
            dmarc = await evaluator.evaluate(fromDomain: domain, spf: spf, dkim: dkim, sample: sample())
        case .failure(let failure):
            dmarc = DMARCResult(verdict: .permerror, fromDomain: nil, reason: failure.description)
        }
        let methods = message.spf.map { [AuthenticationResults.Method.spf($0)] } ?? []
        let field = AuthenticationResults(authservID: authservID, methods: methods + Self.methods(signatures) + [.dmarc(dmarc)])
        edits.append(.prepend(name: "Authentication-Results", value: field.value))
        let note = "dmarc=\(dmarc.verdict.rawValue) from=\(dmarc.fromDomain ?? "-") dis=\(dmarc.disposition.rawValue)"
            + " dkim=\(signatures.map(\.result.keyword).joined(separator: ",").nilIfEmpty ?? "none")"
        switch action(for: dmarc.disposition) {
        case .tag:
            return PolicyVerdict(.continue, headerEdits: edits, note: note)
        case .quarantine:
            return PolicyVerdict(.quarantine(reason: "DMARC \(note)"), headerEdits: edits, note: note)
        case .reject:
            // RFC 7489 §6.6.4 and RFC 7372 (X.7.1: delivery not authorised).
            return .reject(550, EnhancedStatusCode(5, 7, 1),
                           "Rejected by the DMARC policy of \(dmarc.fromDomain ?? "the sender's domain")", note: note)
        }
    }

    func action(for disposition: DMARCResult.Disposition) -> PolicyConfig.DMARCSettings.Action {
        switch disposition {
        case .none: return .tag
        case .quarantine: return settings.onQuarantine
        case .reject: return settings.onReject
        }
    }

    /// The SPF identity DMARC uses (RFC 7489 §4.1): MAIL FROM's domain, or
    /// the HELO name when the reverse-path was null.
    static func identifier(_ result: SPFResult, sender: ReversePath) -> AuthenticatedIdentifier? {
        guard result.identity == .mailFrom || sender.mailbox == nil else { return nil }
        return AuthenticatedIdentifier(passed: result.verdict == .pass, domain: result.domain)
    }

    /// One `dkim=` per signature, top to bottom; `dkim=none` without any.
    static func methods(_ signatures: [DKIMSignatureResult]) -> [AuthenticationResults.Method] {
        guard !signatures.isEmpty else { return [AuthenticationResults.Method(name: "dkim", result: "none")] }
        return signatures.map { signature in
            var properties: [AuthenticationResults.Property] = []
            if let domain = signature.domain { properties.append(.init("header.d", domain)) }
            if let selector = signature.selector { properties.append(.init("header.s", selector)) }
            if let prefix = signature.signaturePrefix { properties.append(.init("header.b", prefix)) }
            return AuthenticationResults.Method(name: "dkim", result: signature.result.keyword,
                                                reason: signature.result.reason, properties: properties)
        }
    }

    /// Streams the spooled message through the verifier in 64 KiB reads,
    /// keeping only its header section (for From).
    private func verify(_ content: ReceivedContent) async throws -> ([DKIMSignatureResult], HeaderSection) {
        var verification = verifier.begin()
        var head: [UInt8] = []
        var headComplete = false
        var unreadable: DKIMError?
        func feed(_ chunk: [UInt8]) {
            if unreadable == nil {
                do { try verification.update(chunk) } catch { unreadable = error }
            }
            guard !headComplete else { return }
            head += chunk
            if let end = HeaderSection.endIndex(in: head) {
                head.removeSubrange(end...)
                headComplete = true
            } else if head.count > verifier.maxHeaderBytes {
                headComplete = true
            }
        }
        if let bytes = content.bytes {
            feed(bytes)
        } else if let path = content.path {
            guard let file = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
            defer { try? file.close() }
            while let data = try file.read(upToCount: 65536), !data.isEmpty { feed([UInt8](data)) }
        }
        let headers = HeaderSection(parsing: head)
        if let unreadable { return ([DKIMSignatureResult(result: .permerror("\(unreadable)"))], headers) }
        return (await verifier.finish(verification), headers)
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
