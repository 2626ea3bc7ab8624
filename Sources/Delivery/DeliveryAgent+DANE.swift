import DNSModel
import Logging
import SMTPCore

extension DeliveryAgent {
    /// A next hop's client options once DANE has had its say (`verifies`: the
    /// certificate is checked against TLSA records), or why the hop is not to be
    /// used now.
    enum DANEHopDecision {
        case use(ClientOptions, verifies: Bool)
        case skip(DeliveryReason)
    }

    /// Applies DANE (RFC 7672) to one MX next hop: usable TLSA records make STARTTLS
    /// mandatory and the certificate checked against them; a secure but unusable
    /// RRset makes TLS mandatory only; a failed TLSA look-up on a signed zone means
    /// this hop is not used (4.7.5); otherwise the options stay as they are.
    /// `domain` is nil when DANE does not apply (a route, a relayhost, no
    /// validating resolver).
    func applyDANE(domain: String?, hop: Router.NextHop, options: ClientOptions) async -> DANEHopDecision {
        guard let domain else { return .use(options, verifies: false) }
        let policy = await DANELookup(resolver: router.resolver).policy(domain: domain, host: hop.host, port: hop.port)
        var options = options
        switch policy {
        case .notApplicable(let why):
            logger.debug("DANE not applied", metadata: ["mx": "\(hop.host)", "reason": "\(why)"])
        case .mandatoryTLS:
            logger.info("DANE applies: TLSA records unusable, TLS required", metadata: ["mx": "\(hop.host)"])
            options.tlsPolicy = .required
        case .required(let expectation):
            logger.info("DANE applies", metadata: ["mx": "\(hop.host)", "tlsa": "\(expectation)"])
            options.tlsPolicy = .required
            options.dane = expectation
            return .use(options, verifies: true)
        case .lookupFailed(let why):
            logger.notice("DANE: TLSA lookup failed, MX not used", metadata: ["mx": "\(hop.host)", "reason": "\(why)"])
            return .skip(.local(EnhancedStatusCode(4, 7, 5), "DANE: \(why) for \(hop.host)", stage: .connect))
        }
        return .use(options, verifies: false)
    }

    /// The domain DANE is looked up for, or nil: only mail sent by MX (not by a
    /// route or the relayhost, not to an address literal), and only with a
    /// validating resolver.
    func daneDomain(_ domain: String) -> String? {
        let router = self.router
        guard configuration.dane, router.routes[domain.lowercased()] == nil, router.relayhost == nil,
              !domain.hasPrefix("[")
        else { return nil }
        return domain
    }
}
