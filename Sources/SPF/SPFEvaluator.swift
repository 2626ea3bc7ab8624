import DNSModel

/// Evaluates SPF policies: `check_host()` of [RFC 7208](https://www.rfc-editor.org/rfc/rfc7208)
/// with its processing limits, macros and explanations. DNS comes only through the
/// `DNSResolver` it is given, so tests run it against an in-memory zone.
public struct SPFEvaluator: Sendable {
    public let resolver: any DNSResolver
    public let configuration: SPFConfiguration

    public init(resolver: any DNSResolver, configuration: SPFConfiguration = SPFConfiguration()) {
        self.resolver = resolver
        self.configuration = configuration
    }

    /// Checks the MAIL FROM identity (§2.4): `sender` is the reverse-path without angle
    /// brackets. An empty sender (the null reverse-path of a bounce) checks the HELO
    /// identity instead, as `postmaster@<helo>` (§2.4).
    public func check(ip: IPAddress, sender: String, helo: String) async -> SPFResult {
        let trimmed = sender == "<>" ? "" : sender
        if trimmed.isEmpty { return await checkHELO(ip: ip, helo: helo) }
        let address = SPFSender(address: trimmed)
        return await checkHost(ip: ip, domain: address.domain, sender: address, helo: helo, identity: .mailFrom)
    }

    /// Checks the HELO identity (§2.3): `<domain>` is the HELO name and `<sender>` is
    /// `postmaster@<helo>`.
    public func checkHELO(ip: IPAddress, helo: String) async -> SPFResult {
        let sender = SPFSender(localPart: "postmaster", domain: helo)
        return await checkHost(ip: ip, domain: helo, sender: sender, helo: helo, identity: .helo)
    }

    /// `check_host(<ip>, <domain>, <sender>)` (§4). A domain that is no fully qualified
    /// name (an unqualified HELO, a domain literal, an empty or over-long label) gives
    /// `none` without any look-up (§4.3).
    public func checkHost(
        ip: IPAddress, domain: String, sender: SPFSender, helo: String, identity: SPFIdentity
    ) async -> SPFResult {
        guard DomainSpec.isCheckableDomain(domain), let name = DNSName(domain) else {
            return SPFResult(
                verdict: .none, decidedBy: "\"\(domain)\" is not a domain name that can be checked",
                domain: domain, identity: identity)
        }
        guard let timeLimit = configuration.timeLimit else {
            return await evaluate(ip: ip, name: name, domain: domain, sender: sender, helo: helo, identity: identity)
        }
        // The evaluation stops at its next look-up once cancelled (`SPFEvaluation.ensureTimeLeft`).
        return await withTaskGroup(of: SPFResult?.self) { group in
            group.addTask {
                await evaluate(ip: ip, name: name, domain: domain, sender: sender, helo: helo, identity: identity)
            }
            group.addTask {
                try? await Task.sleep(for: timeLimit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? SPFResult(
                verdict: .temperror, decidedBy: "the check took longer than \(timeLimit)", domain: domain,
                identity: identity)
        }
    }

    private func evaluate(
        ip: IPAddress, name: DNSName, domain: String, sender: SPFSender, helo: String, identity: SPFIdentity
    ) async -> SPFResult {
        let check = SPFEvaluation(
            resolver: resolver, configuration: configuration, ip: ip.unmapped, sender: sender, helo: helo)
        do {
            let outcome = try await check.checkHost(name)
            var result = SPFResult(verdict: outcome.verdict, decidedBy: outcome.decidedBy, domain: domain, identity: identity)
            if outcome.verdict == .fail {
                result.explanation = await check.explanation(for: outcome)
            }
            return result
        } catch {
            return SPFResult(verdict: error.verdict, decidedBy: error.reason, domain: domain, identity: identity)
        }
    }
}

/// How one domain's record ended, before the explanation is looked up.
struct HostOutcome {
    var verdict: SPFVerdict
    var decidedBy: String
    /// The domain whose record decided (after redirects): `%{d}` of the explanation.
    var domain: DNSName
    /// That record's `exp=`, used only when it decided `fail` (§6.2).
    var explanation: MacroString?
}

/// Ends a check early with permerror or temperror.
struct SPFAbort: Error {
    var verdict: SPFVerdict
    var reason: String

    static func permerror(_ reason: String) -> SPFAbort { SPFAbort(verdict: .permerror, reason: reason) }
    static func temperror(_ reason: String) -> SPFAbort { SPFAbort(verdict: .temperror, reason: reason) }
}

/// The state of one check: the inputs, the look-up counters shared by every include
/// and redirect (§4.6.4), and the client's validated names once looked up. Lives within
/// one task.
final class SPFEvaluation {
    let resolver: any DNSResolver
    let configuration: SPFConfiguration
    /// The client address, an IPv4-mapped IPv6 address already turned into IPv4 (§5).
    let ip: IPAddress
    let sender: SPFSender
    let helo: String
    let timestamp: Int64
    private var dnsMechanisms = 0
    private var voidLookups = 0
    var reverseLookup: DNSLookupResult<DNSName>?
    var validatedNames: [DNSName]?

    var limits: SPFLimits { configuration.limits }

    init(resolver: any DNSResolver, configuration: SPFConfiguration, ip: IPAddress, sender: SPFSender, helo: String) {
        self.resolver = resolver
        self.configuration = configuration
        self.ip = ip
        self.sender = sender
        self.helo = helo
        self.timestamp = configuration.timestamp()
    }

    /// Evaluates the record of `domain` (§4.4–4.7). pass, fail, softfail, neutral and
    /// none are returned; permerror and temperror are thrown.
    func checkHost(_ domain: DNSName) async throws(SPFAbort) -> HostOutcome {
        guard let record = try await fetchRecord(domain) else {
            return HostOutcome(verdict: .none, decidedBy: "no SPF record at \(domain)", domain: domain)
        }
        for directive in record.directives {
            guard try await matches(directive, domain: domain) else { continue }
            let verdict = directive.qualifier.verdict
            return HostOutcome(
                verdict: verdict, decidedBy: "\(directive.text) in \(domain)", domain: domain,
                explanation: verdict == .fail ? record.explanation : nil)
        }
        guard let redirect = record.redirect else {
            return HostOutcome(verdict: .neutral, decidedBy: "no mechanism matched in \(domain)", domain: domain)
        }
        // §6.1: the redirect's result is the result, its own exp= included.
        try countDNSMechanism("redirect= in \(domain)")
        guard let target = await targetName(redirect, domain: domain) else {
            throw .permerror("redirect= in \(domain) names no valid domain")
        }
        let outcome = try await checkHost(target)
        if outcome.verdict == .none {
            throw .permerror("redirect=\(target) in \(domain): no SPF record there")
        }
        return outcome
    }

    /// The single SPF record at `domain` (§4.5), `nil` when there is none.
    private func fetchRecord(_ domain: DNSName) async throws(SPFAbort) -> SPFRecord? {
        try ensureTimeLeft()
        switch await resolver.lookupTXT(domain) {
        case .failure(let error):
            throw .temperror("TXT look-up for \(domain): \(error)")
        case .void:
            return nil
        case .answer(let records, _):
            let candidates = records.map(\.joined).filter(SPFRecordParser.isSPFRecord)
            guard let text = candidates.first else { return nil }
            guard candidates.count == 1 else { throw .permerror("\(candidates.count) SPF records at \(domain)") }
            do {
                return try SPFRecordParser.parse(text)
            } catch {
                throw .permerror("syntax error in the SPF record of \(domain): \(error.message)")
            }
        }
    }

    /// Ends the check once its task is cancelled: the evaluator's time limit ran out.
    func ensureTimeLeft() throws(SPFAbort) {
        if Task.isCancelled { throw .temperror("the check ran out of time") }
    }

    /// Counts a mechanism or modifier that queries DNS (§4.6.4): the eleventh is a permerror.
    func countDNSMechanism(_ term: @autoclosure () -> String) throws(SPFAbort) {
        try ensureTimeLeft()
        dnsMechanisms += 1
        if dnsMechanisms > limits.dnsMechanisms {
            throw .permerror("more than \(limits.dnsMechanisms) DNS-querying terms (at \(term()))")
        }
    }

    /// Counts a look-up that found nothing (§4.6.4): the third is a permerror.
    func countVoidLookup(_ term: @autoclosure () -> String) throws(SPFAbort) {
        voidLookups += 1
        if voidLookups > limits.voidLookups {
            throw .permerror("more than \(limits.voidLookups) void look-ups (at \(term()))")
        }
    }

    /// Expands a domain-spec into the name to query; `nil` when it is no valid name.
    func targetName(_ spec: MacroString, domain: DNSName) async -> DNSName? {
        DomainSpec.targetName(fromExpanded: await expand(spec, domain: domain), limit: limits.domainLength)
    }

    func expand(_ string: MacroString, domain: DNSName) async -> String {
        var context = MacroContext(
            sender: sender, domain: domain.description, ip: ip, helo: helo,
            receivingHost: configuration.receivingHost, timestamp: timestamp)
        if string.usesValidatedDomain {
            context.validatedDomain = await validatedDomain(for: domain)
        }
        return MacroExpander.expand(string, in: context)
    }
}
