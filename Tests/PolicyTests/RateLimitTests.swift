import DNSModel
import Policy
import SMTPCore
import Synchronization
import Testing

/// Rate limits with a clock the test moves.
@Suite("Rate limits")
struct RateLimitTests {
    final class Clock: Sendable {
        let time = Mutex(0.0)
        func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
        var now: @Sendable () -> Double { { self.time.withLock { $0 } } }
    }

    @Test func admitsUpToTheLimitThenRefuses() {
        let clock = Clock()
        let limiter = RateLimiter(window: 60, now: clock.now)
        for _ in 0..<5 { #expect(limiter.admit("k", limit: 5)) }
        #expect(!limiter.admit("k", limit: 5))
        #expect(limiter.admit("other", limit: 5))
    }

    @Test func theWindowSlides() {
        let clock = Clock()
        let limiter = RateLimiter(window: 60, now: clock.now)
        for _ in 0..<10 { #expect(limiter.admit("k", limit: 10)) }
        clock.advance(60) // a new bucket; the old one still weighs fully at its start
        #expect(!limiter.admit("k", limit: 10))
        clock.advance(30) // half of the previous bucket still counts: 5
        for _ in 0..<5 { #expect(limiter.admit("k", limit: 10)) }
        #expect(!limiter.admit("k", limit: 10))
        clock.advance(120) // both buckets are old
        for _ in 0..<10 { #expect(limiter.admit("k", limit: 10)) }
    }

    @Test func refusalsAreNotCounted() {
        let clock = Clock()
        let limiter = RateLimiter(window: 60, now: clock.now)
        #expect(limiter.admit("k", count: 3, limit: 3))
        for _ in 0..<100 { #expect(!limiter.admit("k", limit: 3)) }
        clock.advance(121)
        #expect(limiter.admit("k", count: 3, limit: 3))
    }

    @Test func tableStaysBounded() {
        let clock = Clock()
        let limiter = RateLimiter(window: 60, maxKeys: 100, now: clock.now)
        for index in 0..<1000 {
            clock.advance(1)
            #expect(limiter.admit("ip\(index)", limit: 1))
        }
        // The newest key is still counted.
        #expect(!limiter.admit("ip999", limit: 1))
    }

    @Test func filterRepliesPerIPAndPerUser() async throws {
        var settings = PolicyConfig.RateSettings()
        settings.messagesPerIP = 2
        settings.recipientsPerUser = 1
        let filter = RateLimitFilter(settings: settings, limiter: RateLimiter(window: 3600))
        let session = Fixture.session("192.0.2.9")
        let message = MessageFacts(sender: Fixture.sender("a@example.org"))
        #expect(Fixture.describe(await filter.mail(session, message)) == "continue")
        #expect(Fixture.describe(await filter.mail(session, message)) == "continue")
        #expect(Fixture.describe(await filter.mail(session, message))
                == "450 4.7.1 Rate limit exceeded: too many messages from 192.0.2.9, try again later")
        let user = Fixture.session("192.0.2.10", user: "alice")
        #expect(Fixture.describe(await filter.rcpt(user, message, recipient: try Fixture.path("b@example.net"))) == "continue")
        #expect(Fixture.describe(await filter.rcpt(user, message, recipient: try Fixture.path("c@example.net")))
                == "450 4.7.1 Rate limit exceeded: too many recipients from user alice, try again later")
        // No per-IP recipient limit: an unauthenticated client is not held back.
        #expect(Fixture.describe(await filter.rcpt(session, message, recipient: try Fixture.path("c@example.net"))) == "continue")
    }

    @Test("clients are counted per IPv4 address and per IPv6 /64", arguments: [
        ("192.0.2.7", "192.0.2.7"), ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"), ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ])
    func clientKeys(ip: String, key: String) throws {
        #expect(try #require(IPAddress(ip)).clientKey == key)
    }

    @Test func rotatingThroughASlash64DoesNotEscapeTheLimit() async {
        var settings = PolicyConfig.RateSettings()
        settings.messagesPerIP = 2
        let filter = RateLimitFilter(settings: settings, limiter: RateLimiter(window: 3600))
        let message = MessageFacts(sender: Fixture.sender("a@example.org"))
        for host in ["::1", "::2"] {
            #expect(await filter.mail(Fixture.session("2001:db8:1:2" + host), message).decision == .continue)
        }
        #expect(Fixture.describe(await filter.mail(Fixture.session("2001:db8:1:2::3"), message)).hasPrefix("450 4.7.1"))
    }
}
