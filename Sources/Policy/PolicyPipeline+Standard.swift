import SPF

extension PolicyPipeline {
    /// The filters a policy file asks for, in the order they run: refusals
    /// that need no I/O first, SPF's DNS lookups after them, the rate
    /// counters last (so refused commands are not counted).
    public static func standard(policy: PolicyConfig, hostname: String, spf: SPFEvaluator?,
                                rateLimiter: RateLimiter?) -> PolicyPipeline {
        var filters: [any PolicyFilter] = [SenderFilter(policy: policy)]
        if policy.spf.enabled, let spf {
            filters.append(SPFFilter(settings: policy.spf, trusted: policy.relay.trustedNetworks, evaluator: spf, hostname: hostname,
                                     writesAuthenticationResults: !policy.dmarc.enabled))
        }
        if !policy.recipients.blocked.isEmpty { filters.append(RecipientFilter(blocked: policy.recipients.blocked)) }
        filters.append(RelayFilter(relay: policy.relay))
        if policy.rate.isEnabled, let rateLimiter {
            filters.append(RateLimitFilter(settings: policy.rate, limiter: rateLimiter))
        }
        if !policy.attachments.isEmpty { filters.append(AttachmentFilter(rules: policy.attachments)) }
        return PolicyPipeline(filters: filters)
    }
}
