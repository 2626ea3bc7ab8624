/// The SASL mechanisms offered after `250-AUTH` (RFC 4954 §3); both send the
/// password in clear, so they are offered only under TLS.
public enum SASLMechanism: String, Sendable, CaseIterable {
    case plain = "PLAIN"
    case login = "LOGIN"
}

/// What a client authenticated with. Its descriptions, debug descriptions and
/// mirror leave the password out, so logging one is safe.
public struct SASLCredentials: Sendable, Equatable {
    /// The identity to act as (RFC 4616 §2 authzid); nil when the client gave none.
    public var authorizationID: String?
    public var user: String
    public var password: String

    public init(authorizationID: String? = nil, user: String, password: String) {
        self.authorizationID = authorizationID
        self.user = user
        self.password = password
    }
}

extension SASLCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        let user = "user=\(Self.printable(user))"
        return authorizationID.map { "authzid=\(Self.printable($0)) \(user)" } ?? user
    }

    public var debugDescription: String { "SASLCredentials(\(description))" }

    public var customMirror: Mirror {
        Mirror(self, children: ["authorizationID": authorizationID as Any, "user": user], displayStyle: .struct)
    }

    /// Control characters become "?" so a user name cannot forge log lines.
    private static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
    }
}

public enum SASLError: Error, Equatable, Sendable {
    /// The client answered a challenge with "*" (RFC 4954 §4).
    case cancelled
    /// Not strict base64 (RFC 4648 §4).
    case badBase64
    /// Base64, but not a well-formed response for the mechanism.
    case malformed

    /// The reply RFC 4954 §4 prescribes: 501 for a cancel or an undecodable response.
    public var reply: SMTPReply {
        switch self {
        case .cancelled:
            SMTPReply(code: 501, enhanced: EnhancedStatusCode(5, 0, 0), text: "Authentication cancelled")
        case .badBase64, .malformed:
            SMTPReply(code: 501, enhanced: EnhancedStatusCode(5, 5, 2), text: "Cannot decode response")
        }
    }
}

/// Decoding of SASL responses: PLAIN (RFC 4616) and LOGIN
/// (draft-murchison-sasl-login-00), each carried in base64 (RFC 4954 §4).
public enum SASL {
    /// "Username:" and "Password:", the LOGIN mechanism's two challenges.
    public static let loginUsernameChallenge = "VXNlcm5hbWU6"
    public static let loginPasswordChallenge = "UGFzc3dvcmQ6"

    /// A PLAIN response, RFC 4616 §2:
    ///
    ///     message = [authzid] UTF8NUL authcid UTF8NUL passwd
    ///
    /// An empty authzid becomes nil. "=" (an empty response, RFC 4954 §4) carries
    /// no credentials and is malformed here.
    public static func decodePlain(_ base64: String) throws(SASLError) -> SASLCredentials {
        if base64 == "*" { throw .cancelled }
        if base64 == "=" { throw .malformed }
        let bytes = try decodeBase64(base64)
        let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty, !parts[2].contains(0),
              let authzid = String(validating: parts[0], as: UTF8.self),
              let user = String(validating: parts[1], as: UTF8.self),
              let password = String(validating: parts[2], as: UTF8.self)
        else { throw .malformed }
        return SASLCredentials(authorizationID: authzid.isEmpty ? nil : authzid, user: user, password: password)
    }

    /// One LOGIN step: a base64 line holding UTF-8 text without NUL; "*" cancels.
    public static func decodeBase64Text(_ line: String) throws(SASLError) -> String {
        if line == "*" { throw .cancelled }
        let bytes = try decodeBase64(line)
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else { throw .malformed }
        return text
    }

    /// Strict base64 (RFC 4648 §4): the standard alphabet, padding required, no
    /// whitespace, and unused bits zero (§3.5) so each text has one encoding.
    public static func decodeBase64(_ text: String) throws(SASLError) -> [UInt8] {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { throw .badBase64 }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            let padding = isLast ? input[index...].reversed().prefix { $0 == UInt8(ascii: "=") }.count : 0
            guard padding <= 2 else { throw .badBase64 }
            var group: UInt32 = 0
            for offset in 0..<4 {
                let value: UInt32
                if offset >= 4 - padding {
                    value = 0
                } else if let decoded = sextet(input[index + offset]) {
                    value = decoded
                } else {
                    throw .badBase64
                }
                group = group << 6 | value
            }
            let unusedBits: UInt32 = padding == 2 ? 0xFFFF : padding == 1 ? 0xFF : 0
            guard group & unusedBits == 0 else { throw .badBase64 }
            output.append(UInt8(truncatingIfNeeded: group >> 16))
            if padding < 2 { output.append(UInt8(truncatingIfNeeded: group >> 8)) }
            if padding < 1 { output.append(UInt8(truncatingIfNeeded: group)) }
            index += 4
        }
        return output
    }

    private static func sextet(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(byte - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(byte - UInt8(ascii: "a") + 26)
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0") + 52)
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
