import SMTPCore

/// Messages (counted at MAIL) and recipients (at RCPT) per client IP and
/// per authenticated user within the policy's window; beyond a limit,
/// 450 4.7.1 and the client retries later.
public struct RateLimitFilter: InlinePolicyFilter {
    public let name = "rate"
    public let phases: Set<PolicyPipeline.Phase> = [.mail, .rcpt]
    let settings: PolicyConfig.RateSettings
    let limiter: RateLimiter

    public init(settings: PolicyConfig.RateSettings, limiter: RateLimiter) {
        self.settings = settings
        self.limiter = limiter
    }

    public func mailInline(_ session: SessionFacts, _ message: MessageFacts) -> PolicyVerdict {
        check(session, what: "messages", perIP: settings.messagesPerIP, perUser: settings.messagesPerUser)
    }

    public func rcptInline(_ session: SessionFacts, _ message: MessageFacts, recipient: ForwardPath) -> PolicyVerdict {
        check(session, what: "recipients", perIP: settings.recipientsPerIP, perUser: settings.recipientsPerUser)
    }

    private func check(_ session: SessionFacts, what: String, perIP: Int, perUser: Int) -> PolicyVerdict {
        if let user = session.user, perUser > 0,
           !limiter.admit("user:\(what):\(user.lowercased())", limit: perUser) {
            return refuse("too many \(what) from user \(user)", limit: perUser, what: what)
        }
        if let ip = session.clientIP, perIP > 0, !limiter.admit("ip:\(what):\(ip.clientKey)", limit: perIP) {
            return refuse("too many \(what) from \(ip)", limit: perIP, what: what)
        }
        return PolicyVerdict(.continue, note: "\(what) within limits")
    }

    private func refuse(_ reason: String, limit: Int, what: String) -> PolicyVerdict {
        let window = Int(settings.windowSeconds)
        return .tempfail(450, EnhancedStatusCode(4, 7, 1), "Rate limit exceeded: \(reason), try again later",
                         note: "over \(limit) \(what) per \(window) s")
    }
}
