import Foundation
import SMTPCore
import Testing
@testable import Delivery

@Suite("Dead destinations")
struct DestinationHealthTests {
    typealias Health = DestinationHealth

    static let refused = DeliveryReason.local(EnhancedStatusCode(4, 4, 1), "connect to 10.0.0.1:25 failed: refused", stage: .connect)
    static let timedOut = DeliveryReason.local(EnhancedStatusCode(4, 4, 2), "timed out after 300 s", stage: .greeting)
    static let busy = DeliveryReason.reply(SMTPReply(code: 421, text: "too busy"), stage: .greeting)
    static let suspendedRefused = Health.suspension(of: refused)
    static let suspendedTimeout = Health.suspension(of: timedOut)

    /// One thing happening at `at` seconds, and what it must give.
    enum Step: Sendable, CustomStringConvertible {
        case admit(at: Double, Health.Admission)
        case record(Health.Verdict, at: Double, Health.Transition?)
        case abandon(at: Double)
        case flush(at: Double)

        var description: String {
            switch self {
            case .admit(let at, let admission): return "admit at \(at) → \(admission)"
            case .record(let verdict, let at, let transition): return "record \(verdict) at \(at) → \(String(describing: transition))"
            case .abandon(let at): return "abandon at \(at)"
            case .flush(let at): return "flush at \(at)"
            }
        }
    }

    static let scenarios: [(String, Health.Policy, [Step])] = [
        ("alive stays alive on success", .init(deadAfter: 1, deadTime: 60), [
            .admit(at: 0, .open), .record(.reachable, at: 1, nil), .admit(at: 2, .open),
        ]),
        ("one failure marks it dead; others are suspended until the cool-down is over", .init(deadAfter: 1, deadTime: 60), [
            .admit(at: 0, .open), .admit(at: 0, .open),
            .record(.unreachable(refused), at: 1, .markedDead(refused)),
            .admit(at: 2, .suspended(suspendedRefused)),
            .admit(at: 60.9, .suspended(suspendedRefused)),
            // The second attempt, begun before the mark, fails too: nothing new.
            .record(.unreachable(timedOut), at: 5, nil),
            .admit(at: 61, .probe),
            .admit(at: 61, .waitForProbe), .admit(at: 200, .waitForProbe),
            .record(.reachable, at: 62, .revived(wasDeadFor: refused)),
            .admit(at: 62, .open), .admit(at: 62, .open),
        ]),
        ("a failed probe marks it dead again, from the probe's end", .init(deadAfter: 1, deadTime: 60), [
            .admit(at: 0, .open), .record(.unreachable(refused), at: 0, .markedDead(refused)),
            .admit(at: 60, .probe), .record(.unreachable(timedOut), at: 90, .markedDead(timedOut)),
            .admit(at: 149, .suspended(suspendedTimeout)), .admit(at: 150, .probe),
        ]),
        ("dead_after 3: three failures in a row", .init(deadAfter: 3, deadTime: 10), [
            .record(.unreachable(refused), at: 0, nil), .record(.unreachable(refused), at: 1, nil),
            .record(.reachable, at: 2, nil), // resets the count
            .record(.unreachable(refused), at: 3, nil), .record(.unreachable(busy), at: 4, nil),
            .admit(at: 4, .open),
            .record(.unreachable(busy), at: 5, .markedDead(busy)),
            .admit(at: 6, .suspended(Health.suspension(of: busy))),
        ]),
        ("dead_after 0: never dead", .init(deadAfter: 0, deadTime: 10), [
            .record(.unreachable(refused), at: 0, nil), .record(.unreachable(refused), at: 1, nil), .admit(at: 1, .open),
        ]),
        ("a success from a session begun before the mark revives it", .init(deadAfter: 1, deadTime: 60), [
            .record(.unreachable(refused), at: 0, .markedDead(refused)),
            .record(.reachable, at: 1, .revived(wasDeadFor: refused)), .admit(at: 1, .open),
        ]),
        ("an abandoned probe is owed again at once", .init(deadAfter: 1, deadTime: 60), [
            .record(.unreachable(refused), at: 0, .markedDead(refused)),
            .admit(at: 60, .probe), .abandon(at: 61), .admit(at: 61, .probe), .admit(at: 61, .waitForProbe),
        ]),
        ("queue flush ends the cool-down: the next attempt is the probe", .init(deadAfter: 1, deadTime: 600), [
            .record(.unreachable(refused), at: 0, .markedDead(refused)), .admit(at: 5, .suspended(suspendedRefused)),
            .flush(at: 6), .admit(at: 6, .probe), .admit(at: 6, .waitForProbe),
            .flush(at: 7), .admit(at: 7, .waitForProbe), // a probe under way is left to finish
        ]),
    ]

    @Test("scenarios", arguments: scenarios)
    func scenario(_ name: String, _ policy: Health.Policy, _ steps: [Step]) {
        var health = Health(policy: policy)
        let start = Date(timeIntervalSinceReferenceDate: 1_000_000)
        for (number, step) in steps.enumerated() {
            switch step {
            case .admit(let at, let expected):
                #expect(health.admit(now: start + at) == expected, "\(name), step \(number): \(step)")
            case .record(let verdict, let at, let expected):
                #expect(health.record(verdict, now: start + at) == expected, "\(name), step \(number): \(step)")
            case .abandon(let at):
                health.abandon(now: start + at)
            case .flush(let at):
                health.endCoolDown(now: start + at)
            }
        }
    }

    @Test(arguments: [
        (refused, "4.4.1 delivery temporarily suspended: connect to 10.0.0.1:25 failed: refused (while connecting)"),
        (timedOut, "4.4.2 delivery temporarily suspended: timed out after 300 s (in the greeting)"),
        (busy, "4.4.1 delivery temporarily suspended: 421 too busy (in the greeting)"),
        (.reply(SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 7, 1), text: "go away"), stage: .greeting),
         "4.4.1 delivery temporarily suspended: 554 5.7.1 go away (in the greeting)"),
    ])
    func suspensionDefersWithTheLastError(_ reason: DeliveryReason, _ expected: String) {
        let suspended = Health.suspension(of: reason)
        #expect(suspended.description == expected)
        #expect(suspended.statusCode.klass == 4)
    }

    /// Which failures say the next hop is not working (Postfix throttles on these).
    @Test(arguments: [
        (refused, true), (timedOut, true), (busy, true),
        (.local(EnhancedStatusCode(4, 4, 2), "lost connection", stage: .endOfData), true),
        (.local(EnhancedStatusCode(4, 4, 2), "timed out after 600 s", stage: .endOfData), true),
        (.local(EnhancedStatusCode(4, 7, 5), "TLS handshake failed", stage: .tlsHandshake), false),
        (.local(EnhancedStatusCode(4, 7, 4), "TLS is required, but was not offered", stage: .ehlo), false),
        (.local(EnhancedStatusCode(4, 5, 0), "protocol error: reply too long", stage: .mail), false),
        (.reply(SMTPReply(code: 451, text: "try later"), stage: .rcpt), false),
        (.reply(SMTPReply(code: 421, text: "closing"), stage: .mail), false),
    ] as [(DeliveryReason, Bool)])
    func unreachableHops(_ reason: DeliveryReason, _ unreachable: Bool) {
        #expect(reason.isUnreachableHop == unreachable)
        #expect(Health.Verdict(setupFailure: reason) == (unreachable ? .unreachable(reason) : .reachable))
    }

    @Test func outcomeVerdict() {
        let delivered = RecipientOutcome.delivered(SMTPReply(code: 250, text: "ok"))
        let lost = DeliveryReason.local(EnhancedStatusCode(4, 4, 2), "lost connection", stage: .data)
        #expect(Health.Verdict(MessageOutcome(recipients: [delivered, .failed(Self.busy)])) == .reachable)
        #expect(Health.Verdict(MessageOutcome(recipients: [.deferred(lost), .deferred(lost)])) == .unreachable(lost))
    }
}
