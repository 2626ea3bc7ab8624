@preconcurrency import Crypto
import _CryptoExtras
import Foundation

/// A private key to sign with: Ed25519 (RFC 8463) or RSA (RFC 6376 §3.3.1).
public enum DKIMSigningKey: Sendable {
    case ed25519(Curve25519.Signing.PrivateKey)
    case rsa(_RSA.Signing.PrivateKey)

    public var algorithm: DKIMAlgorithm {
        switch self {
        case .ed25519: return .ed25519SHA256
        case .rsa: return .rsaSHA256
        }
    }

    /// A new key: Ed25519, or RSA of `bits` (2048 at least, RFC 8301 §3.2).
    public static func generate(_ type: DKIMKeyType, bits: Int = 2048) throws(DKIMError) -> DKIMSigningKey {
        switch type {
        case .ed25519:
            return .ed25519(Curve25519.Signing.PrivateKey())
        case .rsa:
            guard bits >= 2048 && bits <= 8192 else { throw .privateKey("RSA keys must have 2048 to 8192 bits") }
            do { return .rsa(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits))) } catch {
                throw .privateKey("cannot generate an RSA key: \(error)")
            }
        }
    }

    /// Reads a key file: PEM "PRIVATE KEY" (PKCS#8, RSA or Ed25519), PEM
    /// "RSA PRIVATE KEY" (PKCS#1), or a bare base64 Ed25519 seed of 32
    /// octets (dkimpy's form).
    public init(pem text: String) throws(DKIMError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.hasPrefix("-----BEGIN") {
            guard let seed = Data(base64Encoded: trimmed), seed.count == 32,
                  let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
                throw .privateKey("neither PEM nor a base64 Ed25519 key")
            }
            self = .ed25519(key)
            return
        }
        if trimmed.hasPrefix("-----BEGIN PRIVATE KEY-----"), let der = Self.pemBody(trimmed),
           let seed = Self.ed25519Seed(pkcs8: der) {
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
                throw .privateKey("invalid Ed25519 key")
            }
            self = .ed25519(key)
            return
        }
        do { self = .rsa(try _RSA.Signing.PrivateKey(pemRepresentation: trimmed)) } catch {
            throw .privateKey("not an RSA (2048 bits or more) or Ed25519 key: \(error)")
        }
    }

    /// The key as a PEM file: PKCS#8 for both types, as OpenSSL writes them.
    public var pemRepresentation: String {
        switch self {
        case .rsa(let key):
            return key.pemRepresentation + "\n"
        case .ed25519(let key):
            let der = Self.ed25519PKCS8Prefix + Array(key.rawRepresentation)
            let lines = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            return "-----BEGIN PRIVATE KEY-----\n\(lines)\n-----END PRIVATE KEY-----\n"
        }
    }

    /// The key record to publish for this key.
    public var publicKeyRecord: DKIMKeyRecord {
        switch self {
        case .rsa(let key):
            return DKIMKeyRecord(keyType: .rsa, publicKey: Array(key.publicKey.derRepresentation))
        case .ed25519(let key):
            return DKIMKeyRecord(keyType: .ed25519, publicKey: Array(key.publicKey.rawRepresentation))
        }
    }

    /// Signs the SHA-256 digest of the header hash input (RFC 6376 §3.7;
    /// Ed25519 signs the 32 digest octets themselves, RFC 8463 §3).
    func sign(digest: SHA256.Digest) throws(DKIMError) -> [UInt8] {
        do {
            switch self {
            case .rsa(let key):
                return Array(try key.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
            case .ed25519(let key):
                return Array(try key.signature(for: Array(digest)))
            }
        } catch {
            throw .privateKey("signing failed: \(error)")
        }
    }

    /// PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410 §7) before the 32-octet seed.
    static let ed25519PKCS8Prefix: [UInt8] = [
        0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]

    static func ed25519Seed(pkcs8 der: [UInt8]) -> [UInt8]? {
        guard der.count == ed25519PKCS8Prefix.count + 32, der.starts(with: ed25519PKCS8Prefix) else { return nil }
        return Array(der.suffix(32))
    }

    static func pemBody(_ pem: String) -> [UInt8]? {
        let body = pem.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("-----") }.joined()
        return Data(base64Encoded: body).map(Array.init)
    }
}

extension DKIMKeyRecord {
    /// Whether `signature` over `digest` verifies with this record's key.
    /// RSA keys of 1024 bits are still accepted, as RFC 8301 §3.2 requires
    /// of verifiers.
    func verify(signature: [UInt8], digest: SHA256.Digest) throws(DKIMError) -> Bool {
        switch keyType {
        case .rsa:
            let key: _RSA.Signing.PublicKey
            do { key = try _RSA.Signing.PublicKey(unsafeDERRepresentation: publicKey) } catch {
                throw .keySyntax("p= is not an RSA public key of 1024 bits or more")
            }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: digest,
                                        padding: .insecurePKCS1v1_5)
        case .ed25519:
            let key: Curve25519.Signing.PublicKey
            do { key = try Curve25519.Signing.PublicKey(rawRepresentation: publicKey) } catch {
                throw .keySyntax("p= is not a 32-octet Ed25519 key")
            }
            return key.isValidSignature(signature, for: Array(digest))
        }
    }
}
