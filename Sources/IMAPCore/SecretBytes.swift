/// Credentials as sent (a LOGIN password, an AUTHENTICATE initial
/// response): bytes that are handed to the authenticator and never printed,
/// so a logged command shows "<redacted>" (STYLE habit 10).
public struct SecretBytes: Equatable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public init(_ text: String) { self.bytes = Array(text.utf8) }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
