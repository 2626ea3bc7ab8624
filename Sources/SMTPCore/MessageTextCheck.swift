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

    /// Some line starts with "." (a DATA stream doubles it, RFC 5321 §4.5.2).
    public private(set) var sawDotLine = false
    /// A CR or LF outside a CRLF pair, in DATA content too.
    private var sawLoneCROrLF = false

    /// Every line so far ends in CRLF, fits 998 octets, holds no NUL and
    /// starts without ".", and the text ends at a line end: dot-stuffing
    /// would leave it as it is, so a DATA stream can send it unchanged
    /// (issue #15).
    public var isPlain: Bool {
        !sawDotLine && !sawNUL && !hasLongLine && !sawLoneCROrLF && lineLength == 0 && !previousWasCR
    }

    /// A message may not end in the middle of a CRLF pair.
    public var endsCleanly: Bool { !previousWasCR && !sawBareLineEnding }

    public mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var start = 0
        while start < bytes.count {
            if lineLength == 0 && !previousWasCR {
                // Whole plain lines in one SIMD pass: no NUL, no bare CR or
                // LF, none too long, none starting with ".".
                start = LineEndSearch.plainLines(
                    in: bytes, from: start, to: bytes.count, maxLineLength: Self.maxLineLength, longest: &longestLine)
                if start == bytes.count { break }
            }
            // The next line, or what there is of it, by the octet rules.
            let end = memchr(base + start, 0x0A, bytes.count - start).map { base.distance(to: UnsafeRawPointer($0)) + 1 }
                ?? bytes.count
            scanByOctets(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            start = end
        }
    }

    /// Text the caller's framing already found to be whole plain lines, the
    /// longest `longest` octets (SMTPFrameDecoder.plainContentLongest): no
    /// pass over it when it starts a line here too (issue #15).
    public mutating func scanPlain(_ bytes: UnsafeRawBufferPointer, longest: Int) {
        guard lineLength == 0 && !previousWasCR, longest <= Self.maxLineLength else { return scan(bytes) }
        longestLine = max(longestLine, longest)
    }

    private mutating func scanByOctets(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if !sawNUL && memchr(base, 0, bytes.count) != nil { sawNUL = true }
        checkCarriageReturns(bytes)
        if lineLength == 0 && !previousWasCR && bytes[0] == UInt8(ascii: ".") { sawDotLine = true }
        var start = 0
        while start < bytes.count, let hit = memchr(base + start, 0x0A, bytes.count - start) {
            let lf = base.distance(to: UnsafeRawPointer(hit))
            let beforeLF = lf > 0 ? bytes[lf - 1] == 0x0D : previousWasCR
            if !beforeLF { noteBareLineEnding() }
            // The line's octets: what came before this chunk plus this run, less its CR.
            let length = lineLength + (lf - start) - (beforeLF ? 1 : 0)
            longestLine = max(longestLine, length)
            lineLength = 0
            start = lf + 1
            if start < bytes.count && bytes[start] == UInt8(ascii: ".") { sawDotLine = true }
        }
        lineLength += bytes.count - start
        previousWasCR = bytes[bytes.count - 1] == 0x0D
        // The line in progress counts already (its CR may be the first half of CRLF).
        longestLine = max(longestLine, lineLength - (previousWasCR ? 1 : 0))
    }

    /// Counted as a defect only where the framing does not already refuse
    /// it (BDAT); either way the text is not plain.
    private mutating func noteBareLineEnding() {
        sawLoneCROrLF = true
        if checksLineEndings { sawBareLineEnding = true }
    }

    /// Every CR must be followed by LF, also across chunk borders.
    private mutating func checkCarriageReturns(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        if previousWasCR && bytes[0] != 0x0A { noteBareLineEnding() }
        var start = 0
        while start < bytes.count, let hit = memchr(base + start, 0x0D, bytes.count - start) {
            let cr = base.distance(to: UnsafeRawPointer(hit))
            if cr + 1 < bytes.count && bytes[cr + 1] != 0x0A { noteBareLineEnding() }
            start = cr + 1
        }
    }
}
