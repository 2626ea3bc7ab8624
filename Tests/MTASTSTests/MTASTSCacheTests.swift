import Foundation
import Testing
@testable import MTASTS

/// RFC 8461 §5.1 cache decisions, with given dates instead of a clock.
struct MTASTSCacheTests {
    let start = Date(timeIntervalSince1970: 1_000_000)
    let policy = MTASTSPolicy(mode: .enforce, mx: [MXPattern("mx.example.com")!], maxAge: 3600)

    func cache(id: String = "one") -> MTASTSCache {
        var cache = MTASTSCache()
        cache.store(CachedPolicy(policy: policy, id: id, fetched: start), domain: "Example.COM")
        return cache
    }

    @Test func emptyCacheFetchesWhenARecordExists() {
        #expect(MTASTSCache().plan(domain: "example.com", discovery: .record(MTASTSRecord(id: "one")), now: start)
            == .fetch(id: "one", fallback: nil))
    }

    @Test func sameIDWithinMaxAgeUsesTheCache() {
        let plan = cache().plan(domain: "example.com", discovery: .record(MTASTSRecord(id: "one")), now: start + 3599)
        #expect(plan == .use(CachedPolicy(policy: policy, id: "one", fetched: start)))
    }

    @Test func newIDFetchesKeepingTheCachedOneAsFallback() {
        let plan = cache().plan(domain: "example.com", discovery: .record(MTASTSRecord(id: "two")), now: start + 10)
        #expect(plan == .fetch(id: "two", fallback: CachedPolicy(policy: policy, id: "one", fetched: start)))
    }

    @Test func expiredPolicyIsFetchedAgainWithoutFallback() {
        let plan = cache().plan(domain: "example.com", discovery: .record(MTASTSRecord(id: "one")), now: start + 3600)
        #expect(plan == .fetch(id: "one", fallback: nil))
    }

    @Test func missingOrFailedTXTKeepsAFreshPolicy() {
        let cached = CachedPolicy(policy: policy, id: "one", fetched: start)
        #expect(cache().plan(domain: "example.com", discovery: .absent(.noRecord), now: start + 60) == .use(cached))
        #expect(cache().plan(domain: "example.com", discovery: .lookupFailed("timed out"), now: start + 60) == .use(cached))
    }

    @Test func missingTXTAndExpiredPolicyMeansNone() {
        guard case .noPolicy = cache().plan(domain: "example.com", discovery: .absent(.noRecord), now: start + 7200) else {
            Issue.record("expected no policy")
            return
        }
        guard case .noPolicy = MTASTSCache().plan(domain: "example.com", discovery: .lookupFailed("x"), now: start) else {
            Issue.record("expected no policy")
            return
        }
    }

    @Test func pruneDropsExpiredEntries() {
        var cache = cache()
        cache.prune(now: start + 10)
        #expect(cache.count == 1)
        cache.prune(now: start + 3600)
        #expect(cache.count == 0)
    }
}
