/// The record types Postern asks for.
public enum DNSRecordType: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case a = 1
    case ptr = 12
    case mx = 15
    case txt = 16
    case aaaa = 28
    case tlsa = 52

    public var description: String {
        switch self {
        case .a: return "A"
        case .ptr: return "PTR"
        case .mx: return "MX"
        case .txt: return "TXT"
        case .aaaa: return "AAAA"
        case .tlsa: return "TLSA"
        }
    }
}

/// An MX record ([RFC 1035 §3.3.9](https://www.rfc-editor.org/rfc/rfc1035#section-3.3.9)).
/// A null MX ([RFC 7505](https://www.rfc-editor.org/rfc/rfc7505)) has the root as exchange.
public struct MXRecord: Sendable, Hashable {
    public var preference: UInt16
    public var exchange: DNSName

    public init(preference: UInt16, exchange: DNSName) {
        self.preference = preference
        self.exchange = exchange
    }
}

/// A TXT record: one or more character-strings of at most 255 octets each
/// ([RFC 1035 §3.3.14](https://www.rfc-editor.org/rfc/rfc1035#section-3.3.14)).
/// Kept as bytes: SPF must see non-ASCII octets to reject them.
public struct TXTRecord: Sendable, Hashable {
    public var strings: [[UInt8]]

    public init(strings: [[UInt8]]) { self.strings = strings }

    /// Builds a record from text, split into 255-octet character-strings.
    public init(_ text: String) {
        let bytes = Array(text.utf8)
        strings = stride(from: 0, to: max(bytes.count, 1), by: 255).map { Array(bytes[$0..<min($0 + 255, bytes.count)]) }
    }

    /// The character-strings joined with nothing between them, as SPF
    /// ([RFC 7208 §3.3](https://www.rfc-editor.org/rfc/rfc7208#section-3.3)) and DKIM read them.
    public var joined: [UInt8] { strings.flatMap { $0 } }

    /// `joined` as text (invalid UTF-8 replaced).
    public var text: String { String(decoding: joined, as: UTF8.self) }
}

/// One answer record of a type Postern asks for.
public enum DNSRecord: Sendable, Hashable {
    case a(IPv4Address)
    case aaaa(IPv6Address)
    case mx(MXRecord)
    case txt(TXTRecord)
    case ptr(DNSName)
    case tlsa(TLSARecord)

    public var type: DNSRecordType {
        switch self {
        case .a: return .a
        case .aaaa: return .aaaa
        case .mx: return .mx
        case .txt: return .txt
        case .ptr: return .ptr
        case .tlsa: return .tlsa
        }
    }
}
