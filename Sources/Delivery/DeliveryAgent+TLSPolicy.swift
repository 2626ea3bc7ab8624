import MTASTS
import SMTPCore

/// How the session that carried a delivery was protected, for the log line.
public struct DeliveryTLS: Sendable, Hashable {
    /// "TLSv1.3"; nil: plaintext.
    public var version: String?
    /// "TLS_AES_256_GCM_SHA384"; nil: plaintext or not seen.
    public var cipher: String?
    /// The certificate was checked against trust roots and the host name.
    public var verified: Bool
    /// `OutboundTLSRequirement.label`: none, opportunistic, required, mta-sts-testing, mta-sts-enforce, dane.
    public var policy: String
}

/// One next hop under one requirement: what a session there must show.
struct HopPolicy: Sendable {
    var requirement: OutboundTLSRequirement
    /// The MX (or route) host name: SNI and certificate name.
    var host: String
    var domain: String

    func outcome(of connection: SMTPConnection) -> DeliveryTLS {
        DeliveryTLS(version: connection.session.tls ? connection.session.tlsVersion ?? "TLS" : nil,
                    cipher: connection.session.tls ? connection.session.tlsCipher : nil,
                    verified: connection.session.tls && (connection.options.verify == .full || connection.options.dane != nil),
                    policy: requirement.label)
    }
}

extension DeliveryAgent {
    /// The requirement for `domain`'s MX delivery; routes and the relayhost
    /// keep `configured` (MTA-STS names MX hosts only, RFC 8461 §4).
    func tlsRequirement(domain: String, configured: TLSPolicy) async -> OutboundTLSRequirement {
        guard let mtaSTS, router.isMXDelivery(domain: domain) else { return .configured(configured) }
        return .decide(configured: configured, mtaSTS: await mtaSTS.lookup(domain: domain).active)
    }

    /// RFC 8461 §4.1: under enforce only MX hosts matching the policy are
    /// tried; under testing the others are logged and tried all the same.
    func admittedHops(_ hops: [Router.NextHop], requirement: OutboundTLSRequirement, domain: String,
                      id: String) -> [Router.NextHop] {
        var admitted: [Router.NextHop] = []
        for hop in hops {
            if requirement.wouldRefuse(mxHost: hop.host) {
                logger.notice("MTA-STS testing: enforce would refuse this MX host", metadata: [
                    "id": "\(id)", "domain": "\(domain)", "mx": "\(hop.host)",
                ])
            }
            if requirement.admits(mxHost: hop.host) {
                admitted.append(hop)
            } else {
                logger.info("MTA-STS: MX host not in policy, not used", metadata: [
                    "id": "\(id)", "domain": "\(domain)", "mx": "\(hop.host)",
                ])
            }
        }
        return admitted
    }

    /// Opens a session as the requirement asks. Enforce: any failure to set
    /// up verified TLS defers, with a 4.7.5 reason that names the policy, and
    /// never falls back to plaintext. Testing: a certificate that does not
    /// verify is logged and the hop is tried again unverified, as configured.
    func open(address: String, port: Int, options: ClientOptions, policy: HopPolicy,
              id: String) async -> Result<SMTPConnection, SMTPConnectionError> {
        do {
            let connection = try await SMTPConnection.open(host: address, port: port, options: options, group: group, logger: logger)
            if case .mtaSTSTesting = policy.requirement, !connection.session.tls {
                logTestingRefusal(policy, id: id, why: "no STARTTLS")
            }
            return .success(connection)
        } catch {
            switch policy.requirement {
            case .configured, .dane:
                return .failure(error)
            case .mtaSTSEnforce:
                return .failure(SMTPConnectionError(reason: Self.enforced(error.reason, policy: policy)))
            case .mtaSTSTesting:
                guard error.reason.stage == .tlsHandshake else { return .failure(error) }
                logTestingRefusal(policy, id: id, why: "\(error.reason)")
                var unverified = options
                unverified.verify = .none
                unverified.trustRootsFile = nil
                do {
                    return .success(try await SMTPConnection.open(host: address, port: port, options: unverified, group: group,
                                                                  logger: logger))
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    private func logTestingRefusal(_ policy: HopPolicy, id: String, why: String) {
        logger.notice("MTA-STS testing: enforce would refuse this session", metadata: [
            "id": "\(id)", "domain": "\(policy.domain)", "mx": "\(policy.host)", "reason": "\(why)",
        ])
    }

    /// A TLS problem under enforce, said as the policy's refusal (RFC 3463 X.7.5).
    static func enforced(_ reason: DeliveryReason, policy: HopPolicy) -> DeliveryReason {
        switch reason.stage {
        case .startTLS, .tlsHandshake, .ehlo:
            let text: String
            switch reason {
            case .reply(let reply, let stage): text = "\(reply) (\(stage))"
            case .local(_, let detail, _): text = detail
            }
            return .local(EnhancedStatusCode(4, 7, 5),
                          "MTA-STS policy of \(policy.domain) (enforce) needs verified TLS with \(policy.host): \(text)",
                          stage: reason.stage)
        default:
            return reason
        }
    }
}
