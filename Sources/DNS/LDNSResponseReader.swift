import DNSModel

/// Turns a response into a `DNSLookupResult`: follows the CNAME chain in the answer
/// section ([RFC 1034 §3.6.2](https://www.rfc-editor.org/rfc/rfc1034#section-3.6.2)),
/// keeps the records of the asked type at its end, and reads the negative-caching TTL
/// of NXDOMAIN and no-data answers from the SOA in the authority section
/// ([RFC 2308 §5](https://www.rfc-editor.org/rfc/rfc2308#section-5)).
enum LDNSResponseReader {
    enum Reading {
        case result(DNSLookupResult<DNSRecord>)
        /// The answer ended at an alias whose target it did not cover: ask again for it.
        case restart(at: DNSName)
    }

    static let cnameType: UInt16 = 5
    static let soaType: UInt16 = 6

    static func read(_ response: LDNSResponse, name: DNSName, type: DNSRecordType) -> Reading {
        guard response.rcode == 0 || response.rcode == 3 else {
            return .result(.failure(.serverFailure(rcode: response.rcode)))
        }
        var current = name
        var visited: Set<DNSName> = [name]
        while true {
            let matching = response.answers.filter { $0.owner == current && $0.type == type.rawValue }
            if !matching.isEmpty {
                let records = matching.compactMap { record(from: $0, type: type) }
                guard !records.isEmpty else { return .result(.failure(.malformedResponse("unreadable \(type) RDATA"))) }
                return .result(.answer(records: records, ttl: matching.map(\.ttl).min() ?? 0))
            }
            guard let alias = response.answers.first(where: { $0.owner == current && $0.type == cnameType }),
                  let target = alias.fields.first.flatMap(LDNSResponse.dname)
            else { break }
            guard visited.insert(target).inserted else { return .result(.failure(.aliasLoop)) }
            current = target
        }
        if response.rcode == 3 {
            return .result(.void(DNSVoid(kind: .nxdomain, negativeTTL: negativeTTL(response))))
        }
        if current != name && !response.authority.contains(where: { $0.type == soaType }) {
            return .restart(at: current)
        }
        return .result(.void(DNSVoid(kind: .noData, negativeTTL: negativeTTL(response))))
    }

    /// min(SOA TTL, SOA MINIMUM), or `nil` without an SOA.
    static func negativeTTL(_ response: LDNSResponse) -> UInt32? {
        guard let soa = response.authority.first(where: { $0.type == soaType }), soa.fields.count == 7 else { return nil }
        return min(soa.ttl, bigEndian(soa.fields[6]) ?? soa.ttl)
    }

    static func record(from rr: LDNSResponse.ResourceRecord, type: DNSRecordType) -> DNSRecord? {
        switch type {
        case .a:
            guard let field = rr.fields.first, let value = bigEndian(field), field.count == 4 else { return nil }
            return .a(IPv4Address(value))
        case .aaaa:
            guard let field = rr.fields.first, field.count == 16 else { return nil }
            let groups = stride(from: 0, to: 16, by: 2).map { UInt16(field[$0]) << 8 | UInt16(field[$0 + 1]) }
            return .aaaa(IPv6Address(groups: groups))
        case .mx:
            guard rr.fields.count == 2, rr.fields[0].count == 2, let exchange = LDNSResponse.dname(rr.fields[1])
            else { return nil }
            return .mx(MXRecord(preference: UInt16(rr.fields[0][0]) << 8 | UInt16(rr.fields[0][1]), exchange: exchange))
        case .txt:
            // Each field is one character-string: a length octet, then the text.
            return .txt(TXTRecord(strings: rr.fields.map { Array($0.dropFirst()) }))
        case .ptr:
            guard let field = rr.fields.first, let target = LDNSResponse.dname(field) else { return nil }
            return .ptr(target)
        case .tlsa:
            // ldns splits TLSA into usage, selector, matching type and data; RDATA
            // of a type it does not know comes as one field.
            return TLSARecord(rdata: rr.fields.flatMap { $0 }).map(DNSRecord.tlsa)
        }
    }

    private static func bigEndian(_ bytes: [UInt8]) -> UInt32? {
        guard bytes.count == 4 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}
