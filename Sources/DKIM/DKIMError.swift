/// Why a DKIM signature, key record or message could not be used. Each case
/// maps to one result of [RFC 8601 §2.7.1](https://www.rfc-editor.org/rfc/rfc8601#section-2.7.1)
/// in `DKIMVerifier`; the text says which rule failed.
public enum DKIMError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A tag-list that does not follow RFC 6376 §3.2.
    case tagSyntax(String)
    /// A DKIM-Signature field that lacks a tag or holds a value it may not.
    case signatureSyntax(String)
    /// A key record (RFC 6376 §3.6.1) that cannot be used.
    case keySyntax(String)
    /// A private key file that cannot be read as an Ed25519 or RSA key.
    case privateKey(String)
    /// The message cannot be signed or verified as given.
    case message(String)

    public var description: String {
        switch self {
        case .tagSyntax(let detail): return "tag-list: \(detail)"
        case .signatureSyntax(let detail): return "signature: \(detail)"
        case .keySyntax(let detail): return "key record: \(detail)"
        case .privateKey(let detail): return "private key: \(detail)"
        case .message(let detail): return "message: \(detail)"
        }
    }
}
