import DKIM
import Policy
import SPF

/// The policy one listener applies: the file's settings, the filters built
/// from them, the header rewriter and the AUTH back end.
public struct ListenerPolicy: Sendable {
    public var config: PolicyConfig
    public var pipeline: PolicyPipeline
    public var rewriter: HeaderRewriter?
    public var passwords: PasswordFile?
    public var authThrottle: AuthThrottle?
    /// The rate counters the pipeline's rate filter uses.
    public var rateLimiter: RateLimiter?
    /// `[[dkim.sign]]` keys: the signature is computed over the message as
    /// it will be delivered, after every header edit, before the commit.
    public var dkim: DKIMSigningTable?

    public init(config: PolicyConfig, pipeline: PolicyPipeline, rewriter: HeaderRewriter? = nil,
                passwords: PasswordFile? = nil, authThrottle: AuthThrottle? = nil, rateLimiter: RateLimiter? = nil) {
        self.config = config
        self.pipeline = pipeline
        self.rewriter = rewriter
        self.passwords = passwords
        self.authThrottle = authThrottle
        self.rateLimiter = rateLimiter
    }

    /// The built-in policy when a listener names no file: loopback may
    /// relay, nobody else may, AUTH is off.
    public static func builtIn(hostname: String) -> ListenerPolicy {
        let config = PolicyConfig()
        return ListenerPolicy(config: config, pipeline: .standard(policy: config, hostname: hostname, spf: nil, rateLimiter: nil))
    }

    /// Builds the filters, the header rewriter and the AUTH back end a
    /// policy file asks for. The header rules were compiled once already by
    /// the loader, which reports bad expressions. `previous` (a reload): its
    /// rate counters and AUTH failure throttle carry over when their settings
    /// did not change, so a SIGHUP does not wipe a brute-forcer's record.
    /// `contentFilters` (the scanners) run after the standard content checks.
    public static func make(policy: PolicyConfig, hostname: String, spf: SPFEvaluator?,
                            previous: ListenerPolicy? = nil, contentFilters: [any PolicyFilter] = []) -> ListenerPolicy {
        let keepsRate = previous.map { $0.config.rate == policy.rate } ?? false
        let limiter = policy.rate.isEnabled
            ? (keepsRate ? previous?.rateLimiter : nil) ?? RateLimiter(window: policy.rate.windowSeconds) : nil
        var pipeline = PolicyPipeline.standard(policy: policy, hostname: hostname, spf: spf, rateLimiter: limiter)
        if !contentFilters.isEmpty { pipeline = PolicyPipeline(filters: pipeline.filters + contentFilters) }
        let rewriter = policy.headers.isEmpty ? nil : try? HeaderRewriter(rules: policy.headers)
        var passwords: PasswordFile?
        var throttle: AuthThrottle?
        if policy.auth.enabled, let path = policy.auth.passwordFile {
            passwords = PasswordFile(path: path)
            let keepsThrottle = previous.map {
                $0.config.auth.maxFailures == policy.auth.maxFailures && $0.config.auth.failureWindowSeconds == policy.auth.failureWindowSeconds
            } ?? false
            throttle = (keepsThrottle ? previous?.authThrottle : nil)
                ?? AuthThrottle(maxFailures: policy.auth.maxFailures, window: policy.auth.failureWindowSeconds)
        }
        return ListenerPolicy(config: policy, pipeline: pipeline, rewriter: rewriter, passwords: passwords, authThrottle: throttle,
                              rateLimiter: limiter)
    }

    /// AUTH mechanisms to offer; empty when AUTH is off or has no back end.
    var authMechanisms: [String] {
        config.auth.enabled && passwords != nil ? config.auth.mechanisms : []
    }
}
