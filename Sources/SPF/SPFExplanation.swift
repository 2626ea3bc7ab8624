import DNSModel

/// Explanations for fail results ([RFC 7208 §6.2](https://www.rfc-editor.org/rfc/rfc7208#section-6.2)).
extension SPFEvaluation {
    /// The text of the deciding record's `exp=` TXT record, macros expanded, or the
    /// configured default. The `exp=` look-up counts against no limit; any problem with
    /// it (no valid name, a DNS error, no or several TXT records, non-ASCII text, a
    /// syntax error) falls back to the default.
    func explanation(for outcome: HostOutcome) async -> String {
        if let spec = outcome.explanation, let text = await fetchExplanation(spec, domain: outcome.domain) {
            return text
        }
        return await defaultExplanation(domain: outcome.domain)
    }

    private func fetchExplanation(_ spec: MacroString, domain: DNSName) async -> String? {
        guard let name = await targetName(spec, domain: domain),
              case .answer(let records, _) = await resolver.lookupTXT(name), records.count == 1
        else { return nil }
        let bytes = records[0].joined
        guard bytes.allSatisfy({ $0 < 0x80 }),
              let string = try? MacroString.parse(String(decoding: bytes, as: UTF8.self), kind: .explanation)
        else { return nil }
        return await expand(string, domain: domain)
    }

    private func defaultExplanation(domain: DNSName) async -> String {
        let text = configuration.defaultExplanation
        guard let string = try? MacroString.parse(text, kind: .explanation) else { return text }
        return await expand(string, domain: domain)
    }
}
