/// A Content-Transfer-Encoding (RFC 2045 §6.1). Unknown values are kept by
/// name and the body is then counted as it is, undecoded.
public enum ContentTransferEncoding: Sendable, Equatable, CustomStringConvertible {
    case sevenBit
    case eightBit
    case binary
    case quotedPrintable
    case base64
    case other(String)

    /// Parses a field value (case-insensitive, comments and white space ignored).
    public init(parsing text: String) {
        let token = MIMEHeaderValue(parsing: text).value.lowercased()
        switch token {
        case "7bit", "": self = .sevenBit
        case "8bit": self = .eightBit
        case "binary": self = .binary
        case "quoted-printable": self = .quotedPrintable
        case "base64": self = .base64
        default: self = .other(token)
        }
    }

    /// The RFC 2045 name, lowercased.
    public var name: String {
        switch self {
        case .sevenBit: "7bit"
        case .eightBit: "8bit"
        case .binary: "binary"
        case .quotedPrintable: "quoted-printable"
        case .base64: "base64"
        case .other(let name): name
        }
    }

    public var description: String { name }

    /// 7bit, 8bit and binary leave the body as it is (RFC 2045 §6.2); only
    /// these are allowed on multipart and message entities (§6.4).
    public var isIdentity: Bool {
        switch self {
        case .sevenBit, .eightBit, .binary: true
        case .quotedPrintable, .base64, .other: false
        }
    }
}
