import NIOCore
import Testing
@testable import SMTPCore

@Suite("Session deadlines")
struct SessionDeadlinesTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    static func at(_ seconds: Double) -> NIODeadline { start + .nanoseconds(Int64(seconds * 1e9)) }
    static let timers = SessionDeadlines.Timers(command: .seconds(20), data: .seconds(180), rateGrace: .seconds(30),
                                                minDataRate: 500)

    @Test func idleTimerRestartsOnEveryCompleteCommand() {
        var d = SessionDeadlines(now: Self.at(0))
        d.activity(at: Self.at(15), partialLine: false, receivingContent: false)
        #expect(d.next(timers: Self.timers, contentOctets: 0) == (Self.at(35), .idle))
    }

    @Test func dripFedLineKeepsTheDeadlineOfItsFirstOctet() {
        var d = SessionDeadlines(now: Self.at(0))
        for second in stride(from: 5.0, through: 40, by: 5) {
            d.activity(at: Self.at(second), partialLine: true, receivingContent: false)
        }
        #expect(d.next(timers: Self.timers, contentOctets: 0) == (Self.at(25), .commandLine))
    }

    @Test func theNextLineGetsItsOwnDeadline() {
        var d = SessionDeadlines(now: Self.at(0))
        d.activity(at: Self.at(5), partialLine: true, receivingContent: false)
        d.lineEnded()
        d.activity(at: Self.at(18), partialLine: true, receivingContent: false)
        #expect(d.next(timers: Self.timers, contentOctets: 0) == (Self.at(38), .commandLine))
    }

    @Test func slowContentIsCutAfterTheGrace() {
        var d = SessionDeadlines(now: Self.at(0))
        d.activity(at: Self.at(10), partialLine: false, receivingContent: true)
        d.activity(at: Self.at(50), partialLine: false, receivingContent: true)
        // 5,000 octets earn 10 s beyond the 30 s grace from the start of DATA at 10 s.
        #expect(d.next(timers: Self.timers, contentOctets: 5_000) == (Self.at(50), .slowTransfer))
    }

    @Test func fastContentIsHeldOnlyByTheIdleTimer() {
        var d = SessionDeadlines(now: Self.at(0))
        d.activity(at: Self.at(10), partialLine: false, receivingContent: true)
        d.activity(at: Self.at(12), partialLine: false, receivingContent: true)
        #expect(d.next(timers: Self.timers, contentOctets: 50_000_000) == (Self.at(192), .idle))
    }

    @Test func rateOffLeavesTheIdleTimer() {
        var timers = Self.timers
        timers.minDataRate = 0
        var d = SessionDeadlines(now: Self.at(0))
        d.activity(at: Self.at(10), partialLine: false, receivingContent: true)
        #expect(d.next(timers: timers, contentOctets: 0) == (Self.at(190), .idle))
    }

    @Test func theEndOfTheMessageStopsTheRateClock() {
        var d = SessionDeadlines(now: Self.at(0))
        d.activity(at: Self.at(10), partialLine: false, receivingContent: true)
        d.activity(at: Self.at(11), partialLine: false, receivingContent: false)
        #expect(d.next(timers: Self.timers, contentOctets: 0) == (Self.at(31), .idle))
    }

    @Test func stressShortensEveryTimer() {
        var limits = SMTPLimits()
        limits.commandTimeoutSeconds = 300
        limits.stressTimeoutSeconds = 10
        let stressed = SessionDeadlines.Timers(limits: limits, stressed: true)
        #expect(stressed.command == .seconds(10) && stressed.data == .seconds(10) && stressed.rateGrace == .seconds(10))
        let normal = SessionDeadlines.Timers(limits: limits, stressed: false)
        #expect(normal.command == .seconds(300) && normal.data == .seconds(180) && normal.rateGrace == .seconds(30))
    }
}
