import DNSModel

/// The DNS half of DANE for SMTP (RFC 7672 §2.2): TLSA records count only when the
/// chain of answers leading to them is DNSSEC-validated: the destination's MX answer
/// (or its validated absence, for an implicit MX), the MX host's address answers and
/// the TLSA answer itself. Repeating the router's MX and address queries costs
/// nothing: they come from the `CachingResolver`, which keeps their status.
public struct DANELookup: Sendable {
    let resolver: any DNSResolver

    public init(resolver: any DNSResolver) { self.resolver = resolver }

    /// What DANE asks of `host` (an MX host of `domain`, or `domain` itself for an
    /// implicit MX) on `port`.
    public func policy(domain: String, host: String, port: Int) async -> DANEPolicy {
        guard IPAddress(host) == nil, let domainName = DNSName(domain), let hostName = DNSName(host) else {
            return .notApplicable("next hop is not a host name")
        }
        guard await resolver.securedLookup(domainName, type: .mx).isSecure else {
            return .notApplicable("MX answer for \(domain) not validated")
        }
        async let v4 = resolver.securedLookup(hostName, type: .a)
        async let v6 = resolver.securedLookup(hostName, type: .aaaa)
        guard Self.addressesSecure([await v4, await v6]) else {
            return .notApplicable("address answer for \(host) not validated")
        }
        // RFC 7672 §2.2.3 / RFC 6698 §3: _port._tcp.host.
        guard let tlsaName = DNSName(labels: [Array("_\(port)".utf8), Array("_tcp".utf8)] + hostName.labels) else {
            return .notApplicable("TLSA name too long")
        }
        return DANEPolicy.from(tlsa: await resolver.securedLookupTLSA(tlsaName), referenceNames: [host])
    }

    /// Every answer that carries addresses is secure, and there is one.
    static func addressesSecure(_ results: [DNSSecuredResult<DNSRecord>]) -> Bool {
        let answered = results.filter { !$0.result.records.isEmpty }
        return !answered.isEmpty && answered.allSatisfy(\.isSecure)
    }
}
