/// The signing algorithms Postern signs and verifies with: RSA-SHA256
/// ([RFC 6376 §3.3](https://www.rfc-editor.org/rfc/rfc6376#section-3.3)) and
/// Ed25519-SHA256 ([RFC 8463](https://www.rfc-editor.org/rfc/rfc8463)).
/// RSA-SHA1 is refused ([RFC 8301 §3.1](https://www.rfc-editor.org/rfc/rfc8301#section-3.1)).
public enum DKIMAlgorithm: String, Sendable, Hashable, CaseIterable {
    case rsaSHA256 = "rsa-sha256"
    case ed25519SHA256 = "ed25519-sha256"

    /// The key type (k=) of the key record this algorithm needs.
    public var keyType: DKIMKeyType {
        switch self {
        case .rsaSHA256: return .rsa
        case .ed25519SHA256: return .ed25519
        }
    }
}

/// k= of a key record (RFC 6376 §3.6.1, RFC 8463 §4).
public enum DKIMKeyType: String, Sendable, Hashable {
    case rsa
    case ed25519
}

/// The canonicalisation of one part (RFC 6376 §3.4).
public enum DKIMCanonicalization: String, Sendable, Hashable {
    case simple
    case relaxed
}
