import DNSModel
import Foundation
import Testing

@testable import DNS

/// `LDNSResolver` against a real DNS server on loopback (tests/spf/zoneserver.py).
struct LDNSResolverTests {
    static let bigText = String(repeating: "0123456789abcdef", count: 200)  // 3,200 octets: TCP only

    static var zone: [String: [Any]] { [
        "host.example": [["A": "192.0.2.1"], ["A": "192.0.2.2"], ["AAAA": "2001:db8::1"]],
        "example.test": [["MX": [10, "mx1.example.test"]], ["MX": [20, "mx2.example.test"]], ["TXT": "v=spf1 -all"]],
        "multi.example": [["TXT": ["v=spf1 ip4:", "192.0.2.5 -all"]], ["TXT": "second"]],
        "1.2.0.192.in-addr.arpa": [["PTR": "host.example"]],
        "alias.example": [["CNAME": "alias2.example"]],
        "alias2.example": [["CNAME": "host.example"]],
        "loop.example": [["CNAME": "loop.example"]],
        "slow.example": [["A": "192.0.2.9"], "TIMEOUT"],
        "big.example": ["TRUNCATE", ["TXT": bigText]],
        "odd name:with/chars.example": [["A": "192.0.2.3"]],
        "null-mx.example": [["MX": [0, ""]]],
    ] }

    @Test func answersEachRecordType() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone)
        let resolver = try server.resolver()
        #expect(await resolver.lookupA(DNSName("host.example")!).records == [IPv4Address(192, 0, 2, 1), IPv4Address(192, 0, 2, 2)])
        #expect(await resolver.lookupAAAA(DNSName("HOST.example.")!).records == [IPv6Address("2001:db8::1")!])
        #expect(await resolver.lookupMX(DNSName("example.test")!).records == [
            MXRecord(preference: 10, exchange: DNSName("mx1.example.test")!),
            MXRecord(preference: 20, exchange: DNSName("mx2.example.test")!),
        ])
        #expect(await resolver.lookupMX(DNSName("null-mx.example")!).records == [MXRecord(preference: 0, exchange: .root)])
        let txt = await resolver.lookupTXT(DNSName("multi.example")!).records
        #expect(txt.map(\.text) == ["v=spf1 ip4:192.0.2.5 -all", "second"])
        #expect(txt.first?.strings.count == 2)
        #expect(await resolver.lookupPTR(DNSName(IPAddress("192.0.2.1")!.reverseName)!).records == [DNSName("host.example")!])
        if case .answer(_, let ttl) = await resolver.lookupA(DNSName("host.example")!) {
            #expect(ttl == 300)
        } else {
            Issue.record("no answer")
        }
    }

    @Test func negativeAnswersCarryTheSOATTL() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone)
        let resolver = try server.resolver()
        guard case .void(let nxdomain) = await resolver.lookup(DNSName("missing.example")!, type: .a) else {
            Issue.record("expected NXDOMAIN")
            return
        }
        #expect(nxdomain == DNSVoid(kind: .nxdomain, negativeTTL: 300))
        guard case .void(let noData) = await resolver.lookup(DNSName("host.example")!, type: .mx) else {
            Issue.record("expected no data")
            return
        }
        #expect(noData == DNSVoid(kind: .noData, negativeTTL: 300))
    }

    @Test func servfailIsAFailure() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone)
        let resolver = try server.resolver()
        guard case .failure(let error) = await resolver.lookup(DNSName("slow.example")!, type: .txt) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error == .serverFailure(rcode: 2))
        // Records listed before TIMEOUT are still answered.
        #expect(await resolver.lookupA(DNSName("slow.example")!).records == [IPv4Address(192, 0, 2, 9)])
    }

    @Test func silenceIsATimeout() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone, timeoutMode: "drop")
        let resolver = try server.resolver(timeout: .milliseconds(300), attempts: 1)
        let started = ContinuousClock.now
        guard case .failure(let error) = await resolver.lookup(DNSName("slow.example")!, type: .txt) else {
            Issue.record("expected a failure")
            return
        }
        let elapsed = ContinuousClock.now - started
        #expect(error == .timedOut)
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(3), "took \(elapsed)")
    }

    @Test func truncatedAnswersAreFetchedOverTCP() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone)
        let records = try await server.resolver().lookupTXT(DNSName("big.example")!).records
        #expect(records.count == 1)
        #expect(records.first?.text == Self.bigText)
        #expect(records.first?.strings.count == 13)  // 255-octet character-strings
    }

    @Test func aliasesAreFollowedAndLoopsFail() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone)
        let resolver = try server.resolver()
        #expect(await resolver.lookupA(DNSName("alias.example")!).records.count == 2)
        guard case .failure = await resolver.lookup(DNSName("loop.example")!, type: .a) else {
            Issue.record("expected a failure for a CNAME loop")
            return
        }
    }

    @Test func namesGoOnTheWireAsTheyAre() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone)
        #expect(try await server.resolver().lookupA(DNSName("Odd Name:With/Chars.example")!).records == [IPv4Address(192, 0, 2, 3)])
    }

    @Test func theNextServerIsTriedAfterSilenceOrServfail() async throws {
        let silent = try await ZoneServerProcess.start(zone: ["slow.example": ["TIMEOUT"], "host.example": ["TIMEOUT"]], timeoutMode: "drop")
        let failing = try await ZoneServerProcess.start(zone: ["host.example": ["TIMEOUT"]])
        let good = try await ZoneServerProcess.start(zone: Self.zone)
        let resolver = try LDNSResolver(configuration: .init(
            servers: [silent.address, failing.address, good.address], timeout: .milliseconds(200), attempts: 1))
        #expect(await resolver.lookupA(DNSName("host.example")!).records.count == 2)
        #expect(try await failing.queryCount() == 1)
    }

    @Test func manyConcurrentLookupsShareTheThreads() async throws {
        let server = try await ZoneServerProcess.start(zone: Self.zone)
        let resolver = try server.resolver(threads: 3)
        let answered = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<300 {
                group.addTask {
                    let name = index.isMultiple(of: 2) ? "host.example" : "missing\(index).example"
                    switch await resolver.lookupA(DNSName(name)!) {
                    case .answer: return index.isMultiple(of: 2)
                    case .void: return !index.isMultiple(of: 2)
                    case .failure: return false
                    }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(answered == 300)
    }

    @Test func aResolverNeedsAServer() {
        #expect(throws: LDNSResolver.ConfigurationError.noServers) {
            try LDNSResolver(configuration: .init(servers: []))
        }
    }
}
