import DNSModel

/// Matching the mechanisms of [RFC 7208 §5](https://www.rfc-editor.org/rfc/rfc7208#section-5).
/// A DNS error (timeout, SERVFAIL) ends the check with temperror, except in `ptr`,
/// where it only makes that name (or the mechanism) not match (§5.5).
extension SPFEvaluation {
    func matches(_ directive: SPFDirective, domain: DNSName) async throws(SPFAbort) -> Bool {
        // Built only for error messages.
        let term = Term(directive: directive, domain: domain)
        if directive.mechanism.queriesDNS { try countDNSMechanism(term.description) }
        switch directive.mechanism {
        case .all:
            return true
        case .ip4(let network, let length):
            if case .v4(let client) = ip { return client.isInNetwork(network, prefixLength: length) }
            return false
        case .ip6(let network, let length):
            if case .v6(let client) = ip { return client.isInNetwork(network, prefixLength: length) }
            return false
        case .include(let spec):
            return try await matchesInclude(spec, domain: domain, term: term)
        case .a(let spec, let cidr):
            guard let target = await target(spec, domain: domain) else { return false }
            return try await addressMatches(target, cidr: cidr, countingVoid: term)
        case .mx(let spec, let cidr):
            guard let target = await target(spec, domain: domain) else { return false }
            return try await matchesMX(target, cidr: cidr, term: term)
        case .ptr(let spec):
            guard let target = await target(spec, domain: domain) else { return false }
            return try await clientNames(countingVoid: term).contains { $0.isSubdomain(of: target) }
        case .exists(let spec):
            guard let target = await target(spec, domain: domain) else { return false }
            switch await resolver.lookupA(target) {
            case .failure(let error): throw .temperror("A look-up for \(target) (\(term)): \(error)")
            case .void: try countVoidLookup(term.description); return false
            case .answer: return true
            }
        }
    }

    /// The target of a mechanism: its domain-spec expanded, or the current domain.
    private func target(_ spec: MacroString?, domain: DNSName) async -> DNSName? {
        guard let spec else { return domain }
        return await targetName(spec, domain: domain)
    }

    /// §5.2: pass matches; fail, softfail and neutral do not; none is a permerror;
    /// errors pass through.
    private func matchesInclude(_ spec: MacroString, domain: DNSName, term: Term) async throws(SPFAbort) -> Bool {
        guard let target = await targetName(spec, domain: domain) else {
            throw .permerror("\(term) names no valid domain")
        }
        let outcome = try await checkHost(target)
        switch outcome.verdict {
        case .pass: return true
        case .none: throw .permerror("\(term): no SPF record at \(target)")
        default: return false
        }
    }

    /// §5.4: the addresses of every MX host; more than 10 MX records is a permerror
    /// (§4.6.4). A null MX (RFC 7505) names no host.
    private func matchesMX(_ target: DNSName, cidr: DualCIDRLength, term: Term) async throws(SPFAbort) -> Bool {
        switch await resolver.lookupMX(target) {
        case .failure(let error):
            throw .temperror("MX look-up for \(target) (\(term)): \(error)")
        case .void:
            try countVoidLookup(term.description)
            return false
        case .answer(let records, _):
            guard records.count <= limits.mxNames else {
                throw .permerror("\(target) has \(records.count) MX records, more than \(limits.mxNames) (\(term))")
            }
            for record in records where !record.exchange.isRoot {
                try ensureTimeLeft()
                if try await addressMatches(record.exchange, cidr: cidr, countingVoid: nil) { return true }
            }
            return false
        }
    }

    /// Looks up `name`'s addresses of the client's family (A for IPv4, AAAA for IPv6)
    /// and matches the client against each with the CIDR length of that family (§5.3).
    /// `countingVoid` names the term when a void answer counts against the limit.
    private func addressMatches(_ name: DNSName, cidr: DualCIDRLength, countingVoid term: Term?) async throws(SPFAbort) -> Bool {
        switch ip {
        case .v4(let client):
            switch await resolver.lookupA(name) {
            case .failure(let error): throw .temperror("A look-up for \(name): \(error)")
            case .void: break
            case .answer(let addresses, _):
                return addresses.contains { client.isInNetwork($0, prefixLength: cidr.ipv4) }
            }
        case .v6(let client):
            switch await resolver.lookupAAAA(name) {
            case .failure(let error): throw .temperror("AAAA look-up for \(name): \(error)")
            case .void: break
            case .answer(let addresses, _):
                return addresses.contains { client.isInNetwork($0, prefixLength: cidr.ipv6) }
            }
        }
        if let term { try countVoidLookup(term.description) }
        return false
    }

    /// The client's validated names (§5.5): the first 10 names of its PTR records whose
    /// own addresses include the client. A failed PTR look-up gives no names; a failed
    /// address look-up skips that name. `countingVoid` names the `ptr` term when a void
    /// PTR answer counts against the limit.
    func clientNames(countingVoid term: Term?) async throws(SPFAbort) -> [DNSName] {
        let reverse: DNSLookupResult<DNSName>
        if let cached = reverseLookup {
            reverse = cached
        } else {
            reverse = await resolver.lookupPTR(DNSName(ip.reverseName) ?? .root)
            reverseLookup = reverse
        }
        switch reverse {
        case .failure:
            return []
        case .void:
            if let term { try countVoidLookup(term.description) }
            return []
        case .answer(let names, _):
            if let validatedNames { return validatedNames }
            var validated: [DNSName] = []
            for name in names.prefix(limits.ptrNames) {
                try ensureTimeLeft()
                if await hasClientAddress(name) { validated.append(name) }
            }
            validatedNames = validated
            return validated
        }
    }

    private func hasClientAddress(_ name: DNSName) async -> Bool {
        switch ip {
        case .v4(let client): return await resolver.lookupA(name).records.contains(client)
        case .v6(let client): return await resolver.lookupAAAA(name).records.contains(client)
        }
    }

    /// `%{p}` (§7.3): the validated name equal to `domain`, else one below it, else any,
    /// else "unknown". Its look-ups count against no limit.
    func validatedDomain(for domain: DNSName) async -> String {
        let names = (try? await clientNames(countingVoid: nil)) ?? []
        let chosen = names.first { $0 == domain } ?? names.first { $0.isSubdomain(of: domain) } ?? names.first
        return chosen?.description ?? "unknown"
    }
}

/// A directive and the domain whose record holds it, described only when a message needs it.
struct Term: CustomStringConvertible {
    var directive: SPFDirective
    var domain: DNSName

    var description: String { "\(directive.text) in \(domain)" }
}
