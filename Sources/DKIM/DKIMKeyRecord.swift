import Foundation

/// A DKIM public key record, the TXT record at `selector._domainkey.domain`
/// ([RFC 6376 §3.6.1](https://www.rfc-editor.org/rfc/rfc6376#section-3.6.1)):
/// `v=DKIM1; k=rsa|ed25519; p=…`, with the optional `h=`, `s=` and `t=`.
public struct DKIMKeyRecord: Sendable, Hashable {
    public var keyType: DKIMKeyType
    /// The key bytes: SubjectPublicKeyInfo DER for RSA, the 32 raw octets for
    /// Ed25519 (RFC 8463 §4). Empty when the key is revoked.
    public var publicKey: [UInt8]
    /// h=: hash algorithms the key may be used with; nil allows any.
    public var hashAlgorithms: [String]?
    /// t=y: the domain is testing DKIM (verifiers treat failures as unsigned).
    public var testing: Bool
    /// t=s: the i= domain must be d= itself, not a subdomain.
    public var strictIdentity: Bool

    /// An empty p= (RFC 6376 §3.6.1: "An empty value means that this public
    /// key has been revoked").
    public var isRevoked: Bool { publicKey.isEmpty }

    public init(keyType: DKIMKeyType, publicKey: [UInt8], hashAlgorithms: [String]? = nil,
                testing: Bool = false, strictIdentity: Bool = false) {
        self.keyType = keyType
        self.publicKey = publicKey
        self.hashAlgorithms = hashAlgorithms
        self.testing = testing
        self.strictIdentity = strictIdentity
    }

    public init(parsing text: some Collection<UInt8>) throws(DKIMError) {
        let list: DKIMTagList
        do { list = try DKIMTagList(parsing: text) } catch { throw .keySyntax("\(error)") }
        if let version = list["v"] {
            // v= must be first when present, and exactly "DKIM1".
            guard version == "DKIM1", list.tags.first?.name == "v" else { throw .keySyntax("v= is not DKIM1") }
        }
        let type = list["k"] ?? "rsa"
        guard let keyType = DKIMKeyType(rawValue: type) else { throw .keySyntax("unknown key type k=\(type)") }
        guard let p = list["p"] else { throw .keySyntax("no p= tag") }
        let encoded = p.removingFWS
        var key: [UInt8] = []
        if !encoded.isEmpty {
            guard let decoded = Data(base64Encoded: encoded) else { throw .keySyntax("p= is not base64") }
            key = Array(decoded)
        }
        if let services = list["s"] {
            let names = services.removingFWS.split(separator: ":").map(String.init)
            guard names.contains("*") || names.contains("email") else { throw .keySyntax("service type excludes email") }
        }
        let flags = list["t"]?.removingFWS.split(separator: ":").map(String.init) ?? []
        self.init(keyType: keyType, publicKey: key,
                  hashAlgorithms: list["h"].map { $0.removingFWS.split(separator: ":").map(String.init) },
                  testing: flags.contains("y"), strictIdentity: flags.contains("s"))
    }

    /// The record as published: `v=DKIM1; k=…; p=…`.
    public var rendered: String {
        var text = "v=DKIM1; k=\(keyType.rawValue)"
        if let hashAlgorithms { text += "; h=\(hashAlgorithms.joined(separator: ":"))" }
        var flags: [String] = []
        if testing { flags.append("y") }
        if strictIdentity { flags.append("s") }
        if !flags.isEmpty { text += "; t=\(flags.joined(separator: ":"))" }
        return text + "; p=\(Data(publicKey).base64EncodedString())"
    }
}
