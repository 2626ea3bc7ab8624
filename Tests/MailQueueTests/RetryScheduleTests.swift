import Foundation
import Testing
@testable import MailQueue

/// A deterministic generator (SplitMix64) so every schedule can be replayed.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private let minute: TimeInterval = 60
private let hour: TimeInterval = 3600
private let day: TimeInterval = 86400
private let created = Date(timeIntervalSince1970: 1_800_000_000)

/// The delay `decision` asks for after an attempt at `lastAttempt`; nil for `.expire`.
private func delay(_ decision: RetrySchedule.Decision, from lastAttempt: Date) -> TimeInterval? {
    guard case .retry(let date) = decision else { return nil }
    return date.timeIntervalSince(lastAttempt)
}

@Suite("Retry schedule")
struct RetryScheduleTests {
    @Test("defaults are the documented ones")
    func defaults() {
        let schedule = RetrySchedule()
        #expect(schedule.minimumDelay == 5 * minute)
        #expect(schedule.maximumDelay == 4 * hour)
        #expect(schedule.multiplier == 2)
        #expect(schedule.jitter == 0.2)
        #expect(schedule.lifetime == 5 * day)
        #expect(schedule.delayWarningAfter == 4 * hour)
    }

    @Test("the delay doubles from the minimum and stops at the maximum", arguments: [
        (0, 5 * minute), (1, 5 * minute), (2, 10 * minute), (3, 20 * minute), (4, 40 * minute),
        (5, 80 * minute), (6, 160 * minute), (7, 4 * hour), (8, 4 * hour), (100, 4 * hour),
        (Int.max, 4 * hour),
    ] as [(Int, TimeInterval)])
    func growth(attempts: Int, expected: TimeInterval) {
        let schedule = RetrySchedule(jitter: 0)
        #expect(schedule.baseDelay(after: attempts) == expected)
        var random = SeededGenerator(seed: 1)
        let last = created.addingTimeInterval(hour)
        let decision = schedule.nextAttempt(after: attempts, lastAttempt: last, created: created, random: &random)
        #expect(decision == .retry(at: last.addingTimeInterval(expected)))
    }

    @Test("other settings shape the curve the same way", arguments: [
        // minimum, maximum, multiplier, attempts, expected
        (60.0, 3600.0, 3.0, 1, 60.0), (60, 3600, 3, 2, 180), (60, 3600, 3, 4, 1620), (60, 3600, 3, 5, 3600),
        (30, 30, 2, 9, 30), (600, 7200, 1, 50, 600), (1, 1e9, 10, 10, 1e9),
    ] as [(TimeInterval, TimeInterval, Double, Int, TimeInterval)])
    func customCurve(minimum: TimeInterval, maximum: TimeInterval, multiplier: Double, attempts: Int,
                     expected: TimeInterval) {
        let schedule = RetrySchedule(minimumDelay: minimum, maximumDelay: maximum, multiplier: multiplier, jitter: 0)
        #expect(schedule.baseDelay(after: attempts) == expected)
    }

    @Test("jitter spreads the delay by at most the fraction, inside the bounds",
          arguments: [0.1, 0.2, 0.5, 1.0], [1, 2, 4, 7, 20])
    func jitterBounds(jitter: Double, attempts: Int) {
        let schedule = RetrySchedule(jitter: jitter)
        let base = schedule.baseDelay(after: attempts)
        let lower = max(schedule.minimumDelay, base * (1 - jitter))
        let upper = min(schedule.maximumDelay, base * (1 + jitter))
        var random = SeededGenerator(seed: 0xC0FFEE &+ UInt64(attempts))
        var seen: [TimeInterval] = []
        for _ in 0..<500 {
            let decision = schedule.nextAttempt(after: attempts, lastAttempt: created, created: created, random: &random)
            guard let value = delay(decision, from: created) else {
                Issue.record("expired too early")
                return
            }
            #expect(value >= lower && value <= upper)
            seen.append(value)
        }
        // The spread is used, not just allowed: the samples reach most of the range.
        let spread = (seen.max() ?? 0) - (seen.min() ?? 0)
        #expect(spread >= (upper - lower) * 0.8)
    }

    @Test("jitter is centred on the base delay between the bounds")
    func jitterBothWays() {
        let schedule = RetrySchedule()
        var random = SeededGenerator(seed: 42)
        let delays = (0..<1000).compactMap { _ in
            delay(schedule.nextAttempt(after: 3, lastAttempt: created, created: created, random: &random), from: created)
        }
        let base = 20 * minute
        #expect(delays.contains { $0 < base } && delays.contains { $0 > base })
        let mean = delays.reduce(0, +) / Double(delays.count)
        #expect(abs(mean - base) < base * 0.02)
    }

    @Test("the same seed gives the same schedule")
    func deterministic() {
        let schedule = RetrySchedule()
        var first = SeededGenerator(seed: 7)
        var second = SeededGenerator(seed: 7)
        for attempts in 1...12 {
            let last = created.addingTimeInterval(Double(attempts) * hour)
            #expect(schedule.nextAttempt(after: attempts, lastAttempt: last, created: created, random: &first)
                == schedule.nextAttempt(after: attempts, lastAttempt: last, created: created, random: &second))
        }
    }

    @Test("settings out of range are read in range", arguments: [
        // minimum, maximum, multiplier, jitter, attempts, lowest, highest
        (-10.0, 100.0, 2.0, 0.0, 1, 0.0, 0.0),
        (100, 50, 2, 0, 5, 100, 100), // maximum below minimum: the minimum
        (100, 1000, 0.5, 0, 5, 100, 100), // multiplier below 1: no growth
        (100, 1000, 2, 5, 1, 100, 200), // jitter above 1: ±100 %, clamped to the minimum
        (100, 1000, 2, -1, 3, 400, 400), // negative jitter: none
    ] as [(TimeInterval, TimeInterval, Double, Double, Int, TimeInterval, TimeInterval)])
    func sanitised(minimum: TimeInterval, maximum: TimeInterval, multiplier: Double, jitter: Double,
                   attempts: Int, lowest: TimeInterval, highest: TimeInterval) {
        let schedule = RetrySchedule(minimumDelay: minimum, maximumDelay: maximum, multiplier: multiplier, jitter: jitter)
        var random = SeededGenerator(seed: 3)
        for _ in 0..<200 {
            let decision = schedule.nextAttempt(after: attempts, lastAttempt: created, created: created, random: &random)
            let value = delay(decision, from: created)
            #expect(value.map { $0 >= lowest && $0 <= highest } == true)
        }
    }

    // MARK: Lifetime

    @Test("near the end of the lifetime", arguments: [
        // last attempt (seconds after creation), expected next attempt (nil: expire)
        (1 * day, 1 * day + 4 * hour), // plenty of time: the backoff
        (5 * day - 4 * hour, 5 * day), // lands exactly on the end
        (5 * day - 1 * hour, 5 * day), // would overshoot: pulled in to the end
        (5 * day - 2 * minute, 5 * day - 2 * minute + 5 * minute), // not sooner than the minimum delay
        (5 * day, nil), // an attempt at the end failed: give up
        (6 * day, nil),
    ] as [(TimeInterval, TimeInterval?)])
    func lifetime(lastAttempt offset: TimeInterval, expected: TimeInterval?) {
        let schedule = RetrySchedule(jitter: 0)
        var random = SeededGenerator(seed: 9)
        let decision = schedule.nextAttempt(after: 30, lastAttempt: created.addingTimeInterval(offset),
                                            created: created, random: &random)
        #expect(decision == (expected.map { .retry(at: created.addingTimeInterval($0)) } ?? .expire))
    }

    @Test("a lifetime of zero allows one attempt")
    func zeroLifetime() {
        let schedule = RetrySchedule(lifetime: 0)
        var random = SeededGenerator(seed: 1)
        #expect(schedule.nextAttempt(after: 1, lastAttempt: created, created: created, random: &random) == .expire)
    }

    @Test("a message that always fails: retries within the bounds, a last attempt at the end, then expiry",
          arguments: [1, 2, 3] as [UInt64], [RetrySchedule(), RetrySchedule(lifetime: 3 * hour),
                                              RetrySchedule(minimumDelay: 60, maximumDelay: 7 * hour, lifetime: 2 * day)])
    func wholeLife(seed: UInt64, schedule: RetrySchedule) {
        var random = SeededGenerator(seed: seed)
        var last = created
        var attempts = 1
        var times: [Date] = [created]
        while case .retry(let next) = schedule.nextAttempt(after: attempts, lastAttempt: last, created: created,
                                                           random: &random) {
            let gap = next.timeIntervalSince(last)
            #expect(gap >= schedule.minimumDelay && gap <= schedule.maximumDelay)
            last = next
            attempts += 1
            times.append(next)
            if attempts > 10_000 { break }
        }
        // The last attempt is at the lifetime's end (or one minimum delay
        // after the one before, when that came just before the end); it is
        // the only one at or after the end.
        let end = created.addingTimeInterval(schedule.lifetime)
        let final = times.last ?? created
        #expect(final >= end && final <= end.addingTimeInterval(schedule.minimumDelay))
        #expect(times.dropLast().allSatisfy { $0 < end })
        #expect(attempts < 200)
    }

    // MARK: Delay warning

    @Test("delay warning", arguments: [
        // warn after, now (after creation), already warned, expected
        (4 * hour, 3 * hour, false, false),
        (4 * hour, 4 * hour, false, true),
        (4 * hour, 30 * hour, false, true),
        (4 * hour, 30 * hour, true, false), // once only
        (4 * hour, 5 * day, false, false), // lifetime over: the failure DSN says it
        (nil, 30 * hour, false, false), // turned off
        (6 * day, 5 * day - 1, false, false), // warning after the lifetime: never
        (0, 0, false, true),
    ] as [(TimeInterval?, TimeInterval, Bool, Bool)])
    func delayWarning(after: TimeInterval?, now: TimeInterval, alreadyWarned: Bool, expected: Bool) {
        let schedule = RetrySchedule(delayWarningAfter: after)
        #expect(schedule.shouldWarnDelay(created: created, now: created.addingTimeInterval(now),
                                         alreadyWarned: alreadyWarned) == expected)
    }

    @Test("when the warning falls due")
    func delayWarningDate() {
        #expect(RetrySchedule().delayWarningDate(created: created) == created.addingTimeInterval(4 * hour))
        #expect(RetrySchedule(delayWarningAfter: nil).delayWarningDate(created: created) == nil)
        #expect(RetrySchedule(lifetime: hour).delayWarningDate(created: created) == nil)
        #expect(RetrySchedule().expiry(created: created) == created.addingTimeInterval(5 * day))
    }
}
