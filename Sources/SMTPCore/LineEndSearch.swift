#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CTextScan

/// Finds the next CR or LF with `memchr` (vectorised in libc) instead of
/// an octet-by-octet loop: DATA framing and dot-stuffing spent 16 and 27
/// instructions per octet that way (issue #15, bench/README.md).
public enum LineEndSearch {
    /// The offset of the first CR or LF in `bytes[start..<limit]`, or `limit`.
    public static func first(in bytes: UnsafeRawBufferPointer, from start: Int, to limit: Int) -> Int {
        guard limit > start, let base = bytes.baseAddress else { return limit }
        var end = limit
        if let lf = memchr(base + start, 0x0A, end - start) { end = base.distance(to: UnsafeRawPointer(lf)) }
        if end > start, let cr = memchr(base + start, 0x0D, end - start) { end = base.distance(to: UnsafeRawPointer(cr)) }
        return end
    }

    /// The end of the run of plain lines that starts at `start`, a line
    /// start: whole lines of at most `maxLineLength` octets that end in CRLF,
    /// hold no other CR, LF or NUL and, if `dotEnds`, do not start with "."
    /// (most mail).
    /// `start` itself if the first line is not one. `longest` is raised to
    /// the longest line of the run. One SIMD pass (CTextScan), not a search
    /// and a round of state per line.
    public static func plainLines(
        in bytes: UnsafeRawBufferPointer, from start: Int, to limit: Int, maxLineLength: Int = .max, dotEnds: Bool = true, longest: inout Int
    ) -> Int {
        plainLines(in: bytes, from: start, to: limit, maxLineLength: maxLineLength, dotEnds: dotEnds,
                   instructionSet: scanLevel, longest: &longest)
    }

    /// The instruction set of the SIMD pass: 2 = AVX2, 1 = SSE2, 0 = plain C.
    static let scanLevel = Int(postern_text_scan_level())

    /// `plainLines` with a given instruction set (at most `scanLevel`), so
    /// that tests can hold every path to the same answers.
    static func plainLines(
        in bytes: UnsafeRawBufferPointer, from start: Int, to limit: Int, maxLineLength: Int, dotEnds: Bool,
        instructionSet: Int, longest: inout Int
    ) -> Int {
        guard limit > start, let base = bytes.baseAddress else { return start }
        var best = longest
        let length = postern_plain_lines_at(
            Int32(instructionSet), base.assumingMemoryBound(to: UInt8.self) + start, limit - start, maxLineLength,
            dotEnds ? 1 : 0, &best)
        longest = best
        return start + length
    }
}
