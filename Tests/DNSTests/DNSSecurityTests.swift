import DNSModel
import Foundation
import Testing

@testable import DNS

/// The AD bit (RFC 4035 §3.2.3, RFC 6840 §5.7), believed only from a resolver marked
/// validating; TLSA records (RFC 6698) read off the wire; the cache keeps the status.
struct DNSSecurityTests {
    static let digest = String(repeating: "ab", count: 32)
    static var zone: [String: [Any]] { [
        "signed.example": ["SECURE", ["A": "192.0.2.1"]],
        "plain.example": [["A": "192.0.2.2"]],
        "alias.example": ["SECURE", ["CNAME": "plain.example"]],
        "_25._tcp.signed.example": ["SECURE", ["TLSA": [3, 1, 1, digest]], ["TLSA": [2, 0, 0, "0102"]]],
    ] }

    @Test func adBitCountsOnlyFromAValidatingResolver() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone)
        let validating = try server.resolver(validating: true)
        let plain = try server.resolver()
        #expect(await validating.securedLookup(DNSName("signed.example")!, type: .a).security == .secure)
        #expect(await validating.securedLookup(DNSName("plain.example")!, type: .a).security == .insecure)
        // A chain is secure only when every step is.
        #expect(await validating.securedLookup(DNSName("alias.example")!, type: .a).security == .insecure)
        // A validated no-data answer is secure too.
        #expect(await validating.securedLookup(DNSName("signed.example")!, type: .aaaa).security == .secure)
        #expect(await plain.securedLookup(DNSName("signed.example")!, type: .a).security == .insecure)
        #expect(await validating.lookupA(DNSName("signed.example")!).records == [IPv4Address(192, 0, 2, 1)])
    }

    @Test func tlsaRecordsAreRead() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone)
        let result = try await server.resolver(validating: true).securedLookupTLSA(DNSName("_25._tcp.signed.example")!)
        #expect(result.isSecure)
        #expect(result.result.records.map(\.description) == ["3 1 1 \(Self.digest)", "2 0 0 0102"])
    }

    /// An upstream whose every answer is secure, counting queries.
    final class SecureUpstream: DNSResolver, @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        var queries: Int { lock.withLock { count } }

        func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
            await securedLookup(name, type: type).result
        }

        func securedLookup(_ name: DNSName, type: DNSRecordType) async -> DNSSecuredResult<DNSRecord> {
            lock.withLock { count += 1 }
            return DNSSecuredResult(.answer(records: [.a(IPv4Address(192, 0, 2, 7))], ttl: 60), security: .secure)
        }
    }

    @Test func theCacheKeepsTheStatus() async {
        let upstream = SecureUpstream()
        let cache = CachingResolver(upstream: upstream)
        let name = DNSName("signed.example")!
        #expect(await cache.securedLookup(name, type: .a).security == .secure)
        #expect(await cache.securedLookup(name, type: .a).security == .secure)
        #expect(await cache.lookupA(name).records == [IPv4Address(192, 0, 2, 7)])
        #expect(upstream.queries == 1)
    }

    @Test func readerSplitsOrWholeRDATA() {
        let split = LDNSResponse.ResourceRecord(owner: DNSName("t.example")!, type: 52, ttl: 60, fields: [[3], [1], [1], [0xAA, 0xBB]])
        let whole = LDNSResponse.ResourceRecord(owner: DNSName("t.example")!, type: 52, ttl: 60, fields: [[3, 1, 1, 0xAA, 0xBB]])
        let expected = DNSRecord.tlsa(TLSARecord(usage: 3, selector: 1, matchingType: 1, data: [0xAA, 0xBB]))
        #expect(LDNSResponseReader.record(from: split, type: .tlsa) == expected)
        #expect(LDNSResponseReader.record(from: whole, type: .tlsa) == expected)
        let short = LDNSResponse.ResourceRecord(owner: DNSName("t.example")!, type: 52, ttl: 60, fields: [[3], [1]])
        #expect(LDNSResponseReader.record(from: short, type: .tlsa) == nil)
    }
}
