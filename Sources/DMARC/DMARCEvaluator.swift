import DNSModel

/// DMARC for one message (RFC 7489 §6.6): find the policy record of the
/// author domain, check whether a passing SPF or DKIM identifier aligns
/// with it, and say what the record asks for when none does. DNS only
/// through `DNSResolver` (the daemon's caching resolver).
public struct DMARCEvaluator: Sendable {
    public let resolver: any DNSResolver
    public let alignment: DMARCAlignment

    public init(resolver: any DNSResolver, suffixes: PublicSuffixList) {
        self.resolver = resolver
        self.alignment = DMARCAlignment(suffixes: suffixes)
    }

    /// Where policy discovery ended (§6.6.3).
    public enum Discovery: Sendable, Hashable {
        /// A record; `domain` is where it was found, the author domain or its
        /// organisational domain.
        case found(DMARCRecord, domain: String)
        case none
        case temperror(String)
        case permerror(String)
    }

    /// `sample` is a number in 0..<100 drawn per message for `pct` (§6.6.4);
    /// tests pass a fixed one.
    public func evaluate(fromDomain rawDomain: String, spf: AuthenticatedIdentifier?, dkim: [AuthenticatedIdentifier],
                         sample: Int = Int.random(in: 0..<100)) async -> DMARCResult {
        let fromDomain = DMARCAlignment.normalised(rawDomain)
        let record: DMARCRecord, recordDomain: String
        switch await discover(fromDomain) {
        case .found(let found, let domain): (record, recordDomain) = (found, domain)
        case .none: return DMARCResult(verdict: .none, fromDomain: fromDomain, reason: "no DMARC record")
        case .temperror(let why): return DMARCResult(verdict: .temperror, fromDomain: fromDomain, reason: why)
        case .permerror(let why): return DMARCResult(verdict: .permerror, fromDomain: fromDomain, reason: why)
        }
        var result = DMARCResult(verdict: .fail, fromDomain: fromDomain, record: record)
        result.alignedSPF = spf.map { $0.passed && alignment.aligned($0.domain, with: fromDomain, mode: record.spfAlignment) } ?? false
        result.alignedDKIM = dkim.contains { $0.passed && alignment.aligned($0.domain, with: fromDomain, mode: record.dkimAlignment) }
        result.requestedPolicy = await policy(of: record, foundAt: recordDomain, for: fromDomain)
        if result.alignedSPF || result.alignedDKIM {
            result.verdict = .pass
            return result
        }
        result.disposition = Self.disposition(result.requestedPolicy ?? record.policy, percent: record.percent, sample: sample)
        return result
    }

    /// §6.6.3: `_dmarc.<author domain>`, else `_dmarc.<organisational domain>`.
    /// Only TXT strings starting with `v=DMARC1` count; more than one is an error.
    public func discover(_ fromDomain: String) async -> Discovery {
        let first = await lookUp(fromDomain)
        guard case .none = first else { return first }
        let organisational = alignment.suffixes.organisationalDomain(of: fromDomain)
        guard organisational != fromDomain, !organisational.isEmpty else { return .none }
        return await lookUp(organisational)
    }

    private func lookUp(_ domain: String) async -> Discovery {
        guard let name = DNSName("_dmarc." + domain) else { return .permerror("invalid domain \(domain)") }
        let texts: [String]
        switch await resolver.lookupTXT(name) {
        case .answer(let records, _): texts = records.map { String(decoding: $0.joined, as: UTF8.self) }
        case .void: return .none
        case .failure(let error): return .temperror("DNS \(error) for _dmarc.\(domain)")
        }
        let candidates = texts.filter { $0.trimmingWSP().hasPrefix("v=DMARC1") }
        guard !candidates.isEmpty else { return .none }
        guard candidates.count == 1 else { return .permerror("\(candidates.count) DMARC records at _dmarc.\(domain)") }
        do {
            return .found(try DMARCRecord(parsing: candidates[0]), domain: domain)
        } catch {
            switch error {
            case .notDMARC: return .none
            case .invalidPolicy(let why): return .permerror("\(why) at _dmarc.\(domain)")
            }
        }
    }

    /// `p` for the domain that published it; `sp` for its subdomains, or `np`
    /// (RFC 9091 §4) when the subdomain does not exist at all.
    private func policy(of record: DMARCRecord, foundAt recordDomain: String, for fromDomain: String) async -> DMARCRecord.Policy {
        guard recordDomain != fromDomain else { return record.policy }
        if let nonexistent = record.nonexistentPolicy, let name = DNSName(fromDomain),
           case .void(let void) = await resolver.lookupA(name), void.kind == .nxdomain {
            return nonexistent
        }
        return record.subdomainPolicy ?? record.policy
    }

    /// §6.6.4 and `pct` (§6.3): a message outside the sampled share gets the
    /// next milder treatment.
    static func disposition(_ policy: DMARCRecord.Policy, percent: Int, sample: Int) -> DMARCResult.Disposition {
        let applies = sample < percent
        switch policy {
        case .none: return .none
        case .quarantine: return applies ? .quarantine : .none
        case .reject: return applies ? .reject : .quarantine
        }
    }
}
