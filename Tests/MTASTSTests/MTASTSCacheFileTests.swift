import DNSModel
import Foundation
import NIOPosix
import Testing
@testable import MTASTS

/// Policies kept on disk across restarts (RFC 8461 §5.1).
struct MTASTSCacheFileTests {
    let fetched = Date(timeIntervalSince1970: 1_796_598_410)
    var entry: CachedPolicy {
        CachedPolicy(policy: MTASTSPolicy(mode: .enforce, mx: [MXPattern("mx.example.com")!, MXPattern("*.example.net")!],
                                          maxAge: 86400), id: "abc1", fetched: fetched)
    }

    func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "mtasts-\(UUID().uuidString)"
    }

    @Test func encodesAndDecodes() {
        #expect(MTASTSCacheFile.decode(MTASTSCacheFile.encode(entry)) == entry)
        #expect(MTASTSCacheFile.decode("garbage") == nil)
        #expect(MTASTSCacheFile.decode("id: x-y\nfetched: 1\nversion: STSv1\nmode: none\nmax_age: 1\n") == nil) // bad id
    }

    @Test(arguments: [("Example.COM", "example.com.policy"), ("../etc", nil), ("a/b", nil), ("", nil), (".x", nil),
                      ("x..y", nil)])
    func fileNames(domain: String, expected: String?) {
        #expect(MTASTSCacheFile.fileName(domain) == expected)
    }

    @Test func savedEntriesLoadWhileFreshAndStaleOnesAreRemoved() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = MTASTSCacheFile(directory: directory)
        try file.save(entry, domain: "Example.com")
        let loaded = file.load(now: fetched + 60)
        #expect(loaded.count == 1)
        #expect(loaded.first?.domain == "example.com")
        #expect(loaded.first?.entry == entry)
        #expect(file.load(now: fetched + 86400).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory + "/example.com.policy"))
    }

    /// A restarted source applies the saved policy although DNS and HTTPS fail.
    @Test func aNewSourceUsesTheSavedPolicy() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try MTASTSCacheFile(directory: directory).save(entry, domain: "example.com")
        let resolver = FailingResolver()
        let source = MTASTSPolicySource(
            resolver: resolver, fetcher: MTASTSFetcher(resolver: resolver, group: MultiThreadedEventLoopGroup.singleton),
            cacheFile: MTASTSCacheFile(directory: directory), now: { [fetched] in fetched + 60 })
        let lookup = await source.lookup(domain: "EXAMPLE.com")
        #expect(lookup.active?.mode == .enforce)
        #expect(lookup.source == .cached)
    }
}

/// Every query times out.
struct FailingResolver: DNSResolver {
    func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> { .failure(.timedOut) }
}
