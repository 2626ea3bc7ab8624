#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
}
