import DNSModel
import Foundation
import Testing

@testable import DNS

/// `CachingResolver`: TTLs, negative caching (RFC 2308), capacity, shared queries.
struct CachingResolverTests {
    /// An upstream that answers from a table, counts queries and can be slowed down.
    final class CountingUpstream: DNSResolver, @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        let answers: [String: DNSLookupResult<DNSRecord>]
        let delay: Duration

        init(_ answers: [String: DNSLookupResult<DNSRecord>], delay: Duration = .zero) {
            self.answers = answers
            self.delay = delay
        }

        var queries: Int { lock.withLock { count } }

        func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
            lock.withLock { count += 1 }
            if delay > .zero { try? await Task.sleep(for: delay) }
            return answers[name.description] ?? .void(DNSVoid(kind: .nxdomain, negativeTTL: nil))
        }
    }

    /// A clock the test moves by hand.
    final class ManualClock: @unchecked Sendable {
        private let lock = NSLock()
        private var offset = Duration.zero
        private let base = ContinuousClock.now

        var now: ContinuousClock.Instant { lock.withLock { base + offset } }
        func advance(_ duration: Duration) { lock.withLock { offset += duration } }
    }

    static let answers: [String: DNSLookupResult<DNSRecord>] = [
        "a.example": .answer(records: [.a(IPv4Address(192, 0, 2, 1))], ttl: 60),
        "zero.example": .answer(records: [.a(IPv4Address(192, 0, 2, 2))], ttl: 0),
        "nx.example": .void(DNSVoid(kind: .nxdomain, negativeTTL: 30)),
        "nosoa.example": .void(DNSVoid(kind: .noData, negativeTTL: nil)),
        "fail.example": .failure(.serverFailure(rcode: 2)),
    ]

    @Test func answersLiveForTheirTTL() async {
        let upstream = CountingUpstream(Self.answers)
        let clock = ManualClock()
        let cache = CachingResolver(upstream: upstream, now: { clock.now })
        let name = DNSName("a.example")!
        _ = await cache.lookupA(name)
        clock.advance(.seconds(59))
        guard case .answer(_, let ttl) = await cache.lookupA(name) else {
            Issue.record("expected an answer")
            return
        }
        #expect(ttl <= 1)
        #expect(upstream.queries == 1)
        clock.advance(.seconds(2))
        _ = await cache.lookupA(name)
        #expect(upstream.queries == 2)
        #expect(cache.statistics.hits == 1)
    }

    @Test(arguments: [("nx.example", 1), ("nosoa.example", 2), ("fail.example", 2), ("zero.example", 2)])
    func whatIsKept(name: String, upstreamQueries: Int) async {
        let upstream = CountingUpstream(Self.answers)
        let cache = CachingResolver(upstream: upstream)
        _ = await cache.lookup(DNSName(name)!, type: .a)
        _ = await cache.lookup(DNSName(name)!, type: .a)
        #expect(upstream.queries == upstreamQueries)
    }

    @Test func negativeAnswersExpire() async {
        let upstream = CountingUpstream(Self.answers)
        let clock = ManualClock()
        let cache = CachingResolver(upstream: upstream, maximumNegativeTTL: 10, now: { clock.now })
        _ = await cache.lookup(DNSName("nx.example")!, type: .a)
        clock.advance(.seconds(9))
        _ = await cache.lookup(DNSName("nx.example")!, type: .a)
        #expect(upstream.queries == 1)
        clock.advance(.seconds(2))  // capped at 10 s, not the SOA's 30
        _ = await cache.lookup(DNSName("nx.example")!, type: .a)
        #expect(upstream.queries == 2)
    }

    @Test func typesAreCachedApartAndNamesWithoutCase() async {
        let upstream = CountingUpstream(Self.answers)
        let cache = CachingResolver(upstream: upstream)
        _ = await cache.lookup(DNSName("a.example")!, type: .a)
        _ = await cache.lookup(DNSName("A.EXAMPLE")!, type: .a)
        _ = await cache.lookup(DNSName("a.example")!, type: .txt)
        #expect(upstream.queries == 2)
    }

    @Test func capacityIsBounded() async {
        var answers: [String: DNSLookupResult<DNSRecord>] = [:]
        for index in 0..<500 { answers["n\(index).example"] = .answer(records: [.a(IPv4Address(UInt32(index)))], ttl: 600) }
        let cache = CachingResolver(upstream: CountingUpstream(answers), capacity: 100)
        for index in 0..<500 { _ = await cache.lookup(DNSName("n\(index).example")!, type: .a) }
        #expect(cache.statistics.entries <= 100)
        #expect(cache.statistics.entries >= 80)
    }

    @Test func concurrentLookupsShareOneQuery() async {
        let upstream = CountingUpstream(Self.answers, delay: .milliseconds(100))
        let cache = CachingResolver(upstream: upstream)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { _ = await cache.lookup(DNSName("a.example")!, type: .a) } }
        }
        #expect(upstream.queries == 1)
    }

    @Test func inFrontOfARealServer() async throws {
        let server = try await ZoneServerProcess.start(zone: LDNSResolverTests.zone)
        let cache = CachingResolver(upstream: try server.resolver())
        for _ in 0..<5 {
            #expect(await cache.lookupA(DNSName("host.example")!).records.count == 2)
            _ = await cache.lookupTXT(DNSName("missing.example")!)
        }
        #expect(try await server.queryCount() == 2)
    }
}
