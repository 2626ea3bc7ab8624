import Foundation
import DNSModel
import Testing

@testable import SPF

/// The processing limits of [RFC 7208 §4.6.4](https://www.rfc-editor.org/rfc/rfc7208#section-4.6.4).
struct LimitTests {
    static func check(_ zone: [String: [InMemoryResolver.Entry]], ip: String = "192.0.2.1") async -> (SPFResult, InMemoryResolver) {
        let resolver = InMemoryResolver(zone)
        let result = await SPFEvaluator(resolver: resolver).check(ip: IPAddress(ip)!, sender: "x@limits.example", helo: "h.example")
        return (result, resolver)
    }

    static func record(_ terms: [String]) -> [String: [InMemoryResolver.Entry]] {
        ["limits.example": [.txt((["v=spf1"] + terms).joined(separator: " "))], "host.example": [.a("198.51.100.1")]]
    }

    @Test(arguments: 0...12)
    func dnsMechanismLimitIsTen(count: Int) async {
        let (result, _) = await Self.check(Self.record(Array(repeating: "a:host.example", count: count) + ["ip4:192.0.2.1", "-all"]))
        #expect(result.verdict == (count <= 10 ? .pass : .permerror))
    }

    @Test func theLimitCountsThroughIncludesAndRedirects() async {
        var zone = Self.record(["a:host.example", "include:inc.example", "redirect=red.example"])
        zone["inc.example"] = [.txt("v=spf1 a:host.example a:host.example a:host.example")]  // 2 + 3 = 5
        zone["red.example"] = [.txt("v=spf1 a:host.example a:host.example a:host.example ip4:192.0.2.1")]  // 6 + 3 = 9
        #expect(await Self.check(zone).0.verdict == .pass)
        zone["red.example"] = [.txt("v=spf1 a:host.example a:host.example a:host.example a:host.example a:host.example ip4:192.0.2.1")]
        #expect(await Self.check(zone).0.verdict == .permerror)
    }

    @Test func mechanismsWithoutDNSDoNotCount() async {
        let (result, _) = await Self.check(Self.record(Array(repeating: "ip4:10.0.0.1", count: 30) + ["all"]))
        #expect(result.verdict == .pass)
    }

    @Test func loopsEndInPermerror() async {
        let (result, resolver) = await Self.check(["limits.example": [.txt("v=spf1 include:limits.example")]])
        #expect(result.verdict == .permerror)
        #expect(resolver.queries.count == 11)
        let (redirected, _) = await Self.check(["limits.example": [.txt("v=spf1 redirect=limits.example")]])
        #expect(redirected.verdict == .permerror)
    }

    @Test(arguments: 0...4)
    func voidLookupLimitIsTwo(voids: Int) async {
        let terms = (0..<voids).map { "a:void\($0).example" } + ["?all"]
        let (result, _) = await Self.check(Self.record(terms))
        #expect(result.verdict == (voids <= 2 ? .neutral : .permerror), "\(voids) voids: \(result)")
    }

    @Test func noDataCountsAsVoidAndSoDoMXAndExists() async {
        var zone = Self.record(["a:mxonly.example", "mx:host.example", "exists:nothing.example", "?all"])
        zone["mxonly.example"] = [.mx(10, "host.example")]
        #expect(await Self.check(zone).0.verdict == .permerror)
    }

    @Test func explanationLookupDoesNotCountAsVoid() async {
        let (result, _) = await Self.check(Self.record(["a:v1.example", "a:v2.example", "exp=nxdomain.example", "-all"]))
        #expect(result.verdict == .fail)
    }

    @Test(arguments: [10, 11])
    func mxLimitIsTenRecords(count: Int) async {
        var zone = Self.record(["mx:many.example", "-all"])
        zone["many.example"] = (0..<count).map { .mx(UInt16($0), "host\($0).example") }
        for index in 0..<count { zone["host\(index).example"] = [.a(index == count - 1 ? "192.0.2.1" : "198.51.100.\(index)")] }
        let (result, _) = await Self.check(zone)
        #expect(result.verdict == (count <= 10 ? .pass : .permerror))
    }

    @Test(arguments: [10, 11])
    func ptrLooksAtTheFirstTenNamesOnly(count: Int) async {
        var zone = Self.record(["ptr:good.example", "-all"])
        zone["1.2.0.192.in-addr.arpa"] = (0..<count).map { .ptr($0 == count - 1 ? "mail.good.example" : "n\($0).bad.example") }
        for index in 0..<(count - 1) { zone["n\(index).bad.example"] = [.a("192.0.2.1")] }
        zone["mail.good.example"] = [.a("192.0.2.1")]
        let (result, resolver) = await Self.check(zone)
        #expect(result.verdict == (count <= 10 ? .pass : .fail))
        #expect(resolver.queries.filter { $0.hasPrefix("A ") }.count == 10)
    }
}

final class QueryCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// The overall time limit (§4.6.4: "at least 20 seconds"; shortened here).
struct TimeLimitTests {
    /// Answers every A query with no data after a pause.
    struct SlowResolver: DNSResolver {
        let record: String
        var pause = Duration.milliseconds(300)
        let slowQueries = QueryCounter()

        func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
            if type == .txt { return .answer(records: [.txt(TXTRecord(record))], ttl: 60) }
            slowQueries.increment()
            try? await Task.sleep(for: pause)
            return .answer(records: [.a(IPv4Address(198, 51, 100, 1))], ttl: 60)
        }
    }

    @Test func aSlowCheckEndsInTemperror() async {
        let record = "v=spf1 " + Array(repeating: "a:slow.example", count: 9).joined(separator: " ") + " -all"
        let slow = SlowResolver(record: record)
        let evaluator = SPFEvaluator(resolver: slow, configuration: SPFConfiguration(timeLimit: .milliseconds(250)))
        let result = await evaluator.check(ip: IPAddress("192.0.2.1")!, sender: "a@slow.example", helo: "h.example")
        #expect(result.verdict == .temperror)
        // The limit stops the check after the first slow lookup, not after all nine
        // (counted, not timed, so a loaded machine cannot fail it).
        #expect(slow.slowQueries.value <= 2)
        let unlimited = SPFEvaluator(
            resolver: SlowResolver(record: record, pause: .milliseconds(5)), configuration: SPFConfiguration(timeLimit: nil))
        #expect(await unlimited.check(ip: IPAddress("192.0.2.1")!, sender: "a@slow.example", helo: "h.example").verdict == .fail)
    }
}
