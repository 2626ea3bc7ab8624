@preconcurrency import Crypto
import Foundation

/// The body hash (bh=) computed as the body streams past, chunk by chunk,
/// never holding the body: canonicalisation per
/// [RFC 6376 §3.4.3–3.4.4](https://www.rfc-editor.org/rfc/rfc6376#section-3.4.3)
/// keeps only a count of empty lines not yet known to be trailing and
/// whether white space is pending; `l=` (§3.5) caps the octets hashed.
public struct DKIMBodyHasher: Sendable {
    public let canonicalization: DKIMCanonicalization
    /// l=: hash at most this many canonicalised octets.
    public let limit: Int?
    private var hash = SHA256()
    /// Canonicalised octets produced so far (hashed or beyond `limit`).
    public private(set) var canonicalLength = 0
    private var pendingEmptyLines = 0
    private var pendingSpace = false
    private var pendingCR = false
    private var lineHasContent = false
    private var output: [UInt8] = []

    public init(canonicalization: DKIMCanonicalization, limit: Int? = nil) {
        self.canonicalization = canonicalization
        self.limit = limit
        output.reserveCapacity(4096)
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            if pendingCR {
                pendingCR = false
                if byte == 0x0A {
                    endLine()
                    continue
                }
                content(0x0D)
            }
            switch byte {
            case 0x0D:
                pendingCR = true
            case 0x20 where canonicalization == .relaxed, 0x09 where canonicalization == .relaxed:
                pendingSpace = true
            default:
                content(byte)
            }
        }
        flushOutput()
    }

    /// The digest of the canonicalised body.
    public mutating func finalize() -> [UInt8] {
        if pendingCR {
            pendingCR = false
            content(0x0D)
        }
        // A last line without CRLF gets one (§3.4.3, §3.4.4); a simple
        // body with no lines at all is one CRLF, a relaxed one is empty.
        if lineHasContent {
            endLine()
        } else if canonicalization == .simple && canonicalLength == 0 && output.isEmpty {
            output += [0x0D, 0x0A]
        }
        flushOutput()
        return Array(hash.finalize())
    }

    private mutating func content(_ byte: UInt8) {
        if !lineHasContent {
            lineHasContent = true
            for _ in 0..<pendingEmptyLines { output += [0x0D, 0x0A] }
            pendingEmptyLines = 0
        }
        if pendingSpace {
            output.append(0x20)
            pendingSpace = false
        }
        output.append(byte)
        if output.count >= 4096 { flushOutput() }
    }

    private mutating func endLine() {
        // relaxed: white space at the end of a line is dropped.
        pendingSpace = false
        if lineHasContent {
            output += [0x0D, 0x0A]
            lineHasContent = false
        } else {
            pendingEmptyLines += 1
        }
    }

    private mutating func flushOutput() {
        guard !output.isEmpty else { return }
        var hashed = output[...]
        if let limit {
            hashed = output.prefix(max(0, limit - canonicalLength))
        }
        if !hashed.isEmpty { hash.update(data: hashed) }
        canonicalLength += output.count
        output.removeAll(keepingCapacity: true)
    }
}
