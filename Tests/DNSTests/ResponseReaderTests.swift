import DNSModel
import Testing

@testable import DNS

/// Reading responses without a network: CNAME chains, loops, SOA negative TTLs.
struct ResponseReaderTests {
    typealias RR = LDNSResponse.ResourceRecord

    static func name(_ text: String) -> DNSName { DNSName(text)! }
    static func cname(_ owner: String, _ target: String) -> RR {
        RR(owner: name(owner), type: 5, ttl: 60, fields: [name(target).wireFormat])
    }
    static func a(_ owner: String, _ octets: [UInt8], ttl: UInt32 = 60) -> RR {
        RR(owner: name(owner), type: 1, ttl: ttl, fields: [octets])
    }
    static let soa = RR(owner: .root, type: 6, ttl: 900, fields: [[0], [0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 1, 44]])

    static func read(_ rcode: UInt8, _ answers: [RR], authority: [RR] = [], name: String = "q.example") -> LDNSResponseReader.Reading {
        LDNSResponseReader.read(LDNSResponse(rcode: rcode, truncated: false, answers: answers, authority: authority), name: Self.name(name), type: .a)
    }

    @Test func chainIsFollowedAndTTLIsTheSmallest() {
        let reading = Self.read(0, [Self.cname("q.example", "r.example"), Self.a("r.example", [192, 0, 2, 1], ttl: 30), Self.a("r.example", [192, 0, 2, 2]), Self.a("other.example", [9, 9, 9, 9])])
        guard case .result(.answer(let records, let ttl)) = reading else {
            Issue.record("expected an answer, got \(reading)")
            return
        }
        #expect(records == [.a(IPv4Address(192, 0, 2, 1)), .a(IPv4Address(192, 0, 2, 2))])
        #expect(ttl == 30)
    }

    @Test func loopIsAFailure() {
        guard case .result(.failure(.aliasLoop)) = Self.read(0, [Self.cname("q.example", "r.example"), Self.cname("r.example", "Q.example")]) else {
            Issue.record("expected a loop failure")
            return
        }
    }

    @Test func chainEndingOutsideTheAnswerIsAskedAgain() {
        guard case .restart(let target) = Self.read(0, [Self.cname("q.example", "elsewhere.example")]) else {
            Issue.record("expected a restart")
            return
        }
        #expect(target == DNSName("elsewhere.example"))
    }

    @Test func negativeTTLIsTheSmallerOfSOATTLAndMinimum() {
        guard case .result(.void(let void)) = Self.read(3, [], authority: [Self.soa]) else {
            Issue.record("expected NXDOMAIN")
            return
        }
        #expect(void == DNSVoid(kind: .nxdomain, negativeTTL: 300))
    }

    @Test(arguments: [UInt8(1), 2, 4, 5])
    func otherRcodesAreFailures(rcode: UInt8) {
        guard case .result(.failure(.serverFailure(let got))) = Self.read(rcode, []) else {
            Issue.record("expected a failure")
            return
        }
        #expect(got == rcode)
    }
}
