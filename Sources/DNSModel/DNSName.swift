/// A domain name as DNS carries it: a sequence of labels of raw octets
/// ([RFC 1035 §3.1](https://www.rfc-editor.org/rfc/rfc1035#section-3.1)).
///
/// Labels are kept as bytes, not text, because SPF macro expansion can put any visible
/// character into a name (`foo:bar/baz.example.com`, even spaces); the name goes on the
/// wire exactly as built. Comparison and hashing ignore ASCII case
/// ([RFC 4343](https://www.rfc-editor.org/rfc/rfc4343)).
public struct DNSName: Sendable, Hashable, CustomStringConvertible {
    /// The labels from the leftmost to the top-level one; the root label is implied.
    public let labels: [[UInt8]]
    /// Lower-cased wire form, for equality and hashing.
    private let key: [UInt8]

    /// The longest label ([RFC 1035 §2.3.4](https://www.rfc-editor.org/rfc/rfc1035#section-2.3.4)).
    public static let maximumLabelLength = 63
    /// The longest name in wire form, root label included.
    public static let maximumWireLength = 255

    /// The root name `.`.
    public static let root = DNSName(validatedLabels: [])

    /// Builds a name from labels; `nil` when a label is empty or longer than 63 octets,
    /// or the whole name is longer than 255 octets in wire form.
    public init?(labels: [[UInt8]]) {
        var wireLength = 1
        for label in labels {
            guard (1...Self.maximumLabelLength).contains(label.count) else { return nil }
            wireLength += label.count + 1
        }
        guard wireLength <= Self.maximumWireLength else { return nil }
        self.init(validatedLabels: labels)
    }

    /// Parses dotted text: labels are split at `.`, one trailing `.` is allowed, and
    /// `""` or `"."` is the root. No escapes are interpreted.
    public init?(_ text: String) {
        var bytes = Array(text.utf8)
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        if bytes.isEmpty {
            self = .root
            return
        }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).map(Array.init)
        self.init(labels: labels)
    }

    private init(validatedLabels labels: [[UInt8]]) {
        self.labels = labels
        var key: [UInt8] = []
        for label in labels {
            key.append(UInt8(label.count))
            key.append(contentsOf: label.map(Self.lowercased))
        }
        key.append(0)
        self.key = key
    }

    public var isRoot: Bool { labels.isEmpty }

    /// The name in uncompressed wire form, ending with the root label.
    public var wireFormat: [UInt8] {
        var bytes: [UInt8] = []
        for label in labels {
            bytes.append(UInt8(label.count))
            bytes.append(contentsOf: label)
        }
        bytes.append(0)
        return bytes
    }

    /// Dotted text without the trailing dot (`"."` for the root). Octets are shown as
    /// UTF-8 with no escaping.
    public var description: String {
        if labels.isEmpty { return "." }
        return labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".")
    }

    /// True when `self` equals `other` or lies below it (`mail.example.com` is a
    /// subdomain of `example.com`), ignoring case.
    public func isSubdomain(of other: DNSName) -> Bool {
        guard labels.count >= other.labels.count else { return false }
        return zip(labels.suffix(other.labels.count), other.labels).allSatisfy { mine, theirs in
            mine.count == theirs.count && zip(mine, theirs).allSatisfy { Self.lowercased($0) == Self.lowercased($1) }
        }
    }

    public static func == (lhs: DNSName, rhs: DNSName) -> Bool { lhs.key == rhs.key }

    public func hash(into hasher: inout Hasher) { key.withUnsafeBytes { hasher.combine(bytes: $0) } }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}
