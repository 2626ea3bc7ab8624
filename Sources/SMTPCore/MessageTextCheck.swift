#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Watches message text as it streams in, chunk by chunk, for what RFC 5322
/// forbids and next hops refuse: CR or LF outside a CRLF pair (§2.3; DATA
/// framing already guarantees pairs, BDAT does not), NUL octets (§4.1, only
/// in the obsolete syntax; RFC 2045 §2.8 excludes them from 8bit data too),
/// and lines over 998 octets without their CRLF (§2.1.1). memchr keeps the
/// cost to a few passes over memory at SIMD speed.
public struct MessageTextCheck: Sendable, Equatable {
    /// RFC 5322 §2.1.1: "MUST be no more than 998 characters ... excluding the CRLF".
    public static let maxLineLength = 998

    /// Whether to look for bare CR and bare LF.
    public let checksLineEndings: Bool
    public private(set) var sawBareLineEnding = false
    public private(set) var sawNUL = false
    /// The longest line seen so far, CRLF excluded.
    public private(set) var longestLine = 0
    /// Octets of the line in progress (a trailing CR included).
    private var lineLength = 0
    private var previousWasCR = false

    public init(checksLineEndings: Bool) {
        self.checksLineEndings = checksLineEndings
    }

    public var hasLongLine: Bool { longestLine > Self.maxLineLength }

    /// A message may not end in the middle of a CRLF pair.
    public var endsCleanly: Bool { !previousWasCR && !sawBareLineEnding }

    public mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        // Whole plain lines first, in one SIMD pass: no NUL, no bare CR or
        // LF, none too long. Only a chunk that starts a line can skip any.
        var start = 0
        if lineLength == 0 && !previousWasCR {
            start = LineEndSearch.plainLines(
                in: bytes, from: 0, to: bytes.count, maxLineLength: Self.maxLineLength, dotEnds: false, longest: &longestLine)
            if start == bytes.count {
                previousWasCR = false
                return
            }
        }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
        if !sawNUL && memchr(base + start, 0, rest.count) != nil { sawNUL = true }
        if checksLineEndings { checkCarriageReturns(rest) }
        while start < bytes.count, let hit = memchr(base + start, 0x0A, bytes.count - start) {
            let lf = base.distance(to: UnsafeRawPointer(hit))
            let beforeLF = lf > 0 ? bytes[lf - 1] == 0x0D : previousWasCR
            if !beforeLF { sawBareLineEnding = sawBareLineEnding || checksLineEndings }
            // The line's octets: what came before this chunk plus this run, less its CR.
            let length = lineLength + (lf - start) - (beforeLF ? 1 : 0)
            longestLine = max(longestLine, length)
            lineLength = 0
            start = lf + 1
        }
        lineLength += bytes.count - start
        previousWasCR = bytes[bytes.count - 1] == 0x0D
        // The line in progress counts already (its CR may be the first half of CRLF).
        longestLine = max(longestLine, lineLength - (previousWasCR ? 1 : 0))
    }

    /// Every CR must be followed by LF, also across chunk borders.
    private mutating func checkCarriageReturns(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        if previousWasCR && bytes[0] != 0x0A { sawBareLineEnding = true }
        var start = 0
        while start < bytes.count, let hit = memchr(base + start, 0x0D, bytes.count - start) {
            let cr = base.distance(to: UnsafeRawPointer(hit))
            if cr + 1 < bytes.count && bytes[cr + 1] != 0x0A { sawBareLineEnding = true }
            start = cr + 1
        }
    }
}
