import Foundation

/// The tags of a DKIM-Signature header field
/// ([RFC 6376 §3.5](https://www.rfc-editor.org/rfc/rfc6376#section-3.5)).
public struct DKIMSignatureField: Sendable, Hashable {
    public var algorithm: DKIMAlgorithm
    /// b=: the signature; empty while the field is being signed.
    public var signature: [UInt8]
    /// bh=: the hash of the canonicalised body.
    public var bodyHash: [UInt8]
    public var headerCanonicalization: DKIMCanonicalization
    public var bodyCanonicalization: DKIMCanonicalization
    /// d=: the signing domain.
    public var domain: String
    /// h=: the signed header field names, in order, as written.
    public var signedHeaders: [String]
    /// i=: the agent or user identity; nil means "@" + d=.
    public var identity: String?
    /// l=: how many octets of the canonicalised body were signed.
    public var bodyLength: Int?
    /// s=: the selector.
    public var selector: String
    /// t=: when the signature was made (seconds since the epoch).
    public var timestamp: Int?
    /// x=: when it expires.
    public var expiration: Int?

    public static let fieldName = "DKIM-Signature"

    public init(algorithm: DKIMAlgorithm, domain: String, selector: String, signedHeaders: [String],
                headerCanonicalization: DKIMCanonicalization = .relaxed,
                bodyCanonicalization: DKIMCanonicalization = .relaxed) {
        self.algorithm = algorithm
        self.signature = []
        self.bodyHash = []
        self.headerCanonicalization = headerCanonicalization
        self.bodyCanonicalization = bodyCanonicalization
        self.domain = domain
        self.signedHeaders = signedHeaders
        self.selector = selector
    }

    /// Reads the value of a DKIM-Signature field (the text after the colon).
    /// Throws for anything §6.1.1 tells a verifier to refuse before it looks
    /// up a key.
    public init(parsing value: some Collection<UInt8>) throws(DKIMError) {
        let list = try DKIMTagList(parsing: value)
        func required(_ name: String) throws(DKIMError) -> String {
            guard let value = list[name] else { throw .signatureSyntax("no \(name)= tag") }
            return value
        }
        guard try required("v") == "1" else { throw .signatureSyntax("v= is not 1") }
        let algorithmName = try required("a").lowercased()
        guard let algorithm = DKIMAlgorithm(rawValue: algorithmName) else {
            throw .signatureSyntax("unsupported algorithm \(algorithmName)")
        }
        let domain = try required("d").lowercased()
        let selector = try required("s")
        guard !domain.isEmpty, !selector.isEmpty else { throw .signatureSyntax("empty d= or s=") }
        let headers = try required("h").removingFWS.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard !headers.contains(where: \.isEmpty) else { throw .signatureSyntax("empty name in h=") }
        // §5.4: the From field MUST be signed.
        guard headers.contains(where: { $0.lowercased() == "from" }) else { throw .signatureSyntax("h= does not include From") }
        self.init(algorithm: algorithm, domain: domain, selector: selector, signedHeaders: headers)
        signature = try Self.base64(try required("b"), tag: "b")
        bodyHash = try Self.base64(try required("bh"), tag: "bh")
        guard !signature.isEmpty, !bodyHash.isEmpty else { throw .signatureSyntax("empty b= or bh=") }
        (headerCanonicalization, bodyCanonicalization) = try Self.canonicalization(list["c"])
        if let identity = list["i"] {
            // §3.5: the domain part of i= must be d= or a subdomain of it.
            guard let at = identity.lastIndex(of: "@") else { throw .signatureSyntax("i= has no @") }
            let identityDomain = identity[identity.index(after: at)...].lowercased()
            guard identityDomain == domain || identityDomain.hasSuffix("." + domain) else {
                throw .signatureSyntax("i= is not within d=")
            }
            self.identity = identity
        }
        bodyLength = try list["l"].map { (text) throws(DKIMError) in try Self.number(text, tag: "l") }
        timestamp = try list["t"].map { (text) throws(DKIMError) in try Self.number(text, tag: "t") }
        expiration = try list["x"].map { (text) throws(DKIMError) in try Self.number(text, tag: "x") }
        if let timestamp, let expiration, expiration < timestamp { throw .signatureSyntax("x= is before t=") }
        if let method = list["q"], !method.removingFWS.split(separator: ":").contains("dns/txt") {
            throw .signatureSyntax("no supported query method in q=")
        }
    }

    /// The domain of the identity: i='s domain, else d= (RFC 6376 §3.5).
    public var identityDomain: String {
        guard let identity, let at = identity.lastIndex(of: "@") else { return domain }
        return identity[identity.index(after: at)...].lowercased()
    }

    /// The first eight characters of b=, which name the signature in an
    /// Authentication-Results field (`header.b`, RFC 6008).
    public var signaturePrefix: String {
        String(Data(signature).base64EncodedString().prefix(8))
    }

    private static func canonicalization(_ text: String?) throws(DKIMError) -> (DKIMCanonicalization, DKIMCanonicalization) {
        guard let text = text?.removingFWS else { return (.simple, .simple) }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { $0.lowercased() }
        guard parts.count <= 2, let header = DKIMCanonicalization(rawValue: parts[0]) else {
            throw .signatureSyntax("invalid c=")
        }
        // "relaxed" alone means relaxed headers and a simple body.
        guard let body = parts.count == 2 ? DKIMCanonicalization(rawValue: parts[1]) : .simple else {
            throw .signatureSyntax("invalid c=")
        }
        return (header, body)
    }

    private static func base64(_ text: String, tag: String) throws(DKIMError) -> [UInt8] {
        let compact = text.removingFWS
        if compact.isEmpty { return [] }
        guard let data = Data(base64Encoded: compact) else { throw .signatureSyntax("\(tag)= is not base64") }
        return Array(data)
    }

    /// 1*76DIGIT (t=, x=) and 1*76DIGIT (l=); values beyond Int are refused.
    private static func number(_ text: String, tag: String) throws(DKIMError) -> Int {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else {
            throw .signatureSyntax("\(tag)= is not a number")
        }
        return value
    }
}
