/// Asynchronous DNS look-ups, as SPF and the delivery router need them.
///
/// Implementations answer `lookup(_:type:)`; the typed methods have default
/// implementations over it and may be overridden. Implementations must be safe to call
/// from many tasks at once, and must never block the caller's thread: a resolver over a
/// blocking library runs its queries elsewhere (see `LDNSResolver` in the DNS target).
public protocol DNSResolver: Sendable {
    /// The records of `type` at `name`, CNAME chains followed.
    func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord>

    /// As `lookup`, with the answer's DNSSEC status. Resolvers that cannot know it
    /// (the default) answer `.insecure`; DANE is then never applied.
    func securedLookup(_ name: DNSName, type: DNSRecordType) async -> DNSSecuredResult<DNSRecord>

    func lookupTXT(_ name: DNSName) async -> DNSLookupResult<TXTRecord>
    func lookupA(_ name: DNSName) async -> DNSLookupResult<IPv4Address>
    func lookupAAAA(_ name: DNSName) async -> DNSLookupResult<IPv6Address>
    func lookupMX(_ name: DNSName) async -> DNSLookupResult<MXRecord>
    func lookupPTR(_ name: DNSName) async -> DNSLookupResult<DNSName>
}

extension DNSResolver {
    public func securedLookup(_ name: DNSName, type: DNSRecordType) async -> DNSSecuredResult<DNSRecord> {
        DNSSecuredResult(await lookup(name, type: type), security: .insecure)
    }

    /// TLSA records ([RFC 6698](https://www.rfc-editor.org/rfc/rfc6698)) with their DNSSEC status.
    public func securedLookupTLSA(_ name: DNSName) async -> DNSSecuredResult<TLSARecord> {
        await securedLookup(name, type: .tlsa).compactMap { if case .tlsa(let record) = $0 { record } else { nil } }
    }

    public func lookupTXT(_ name: DNSName) async -> DNSLookupResult<TXTRecord> {
        await lookup(name, type: .txt).compactMap { if case .txt(let record) = $0 { record } else { nil } }
    }

    public func lookupA(_ name: DNSName) async -> DNSLookupResult<IPv4Address> {
        await lookup(name, type: .a).compactMap { if case .a(let address) = $0 { address } else { nil } }
    }

    public func lookupAAAA(_ name: DNSName) async -> DNSLookupResult<IPv6Address> {
        await lookup(name, type: .aaaa).compactMap { if case .aaaa(let address) = $0 { address } else { nil } }
    }

    public func lookupMX(_ name: DNSName) async -> DNSLookupResult<MXRecord> {
        await lookup(name, type: .mx).compactMap { if case .mx(let record) = $0 { record } else { nil } }
    }

    public func lookupPTR(_ name: DNSName) async -> DNSLookupResult<DNSName> {
        await lookup(name, type: .ptr).compactMap { if case .ptr(let target) = $0 { target } else { nil } }
    }
}
