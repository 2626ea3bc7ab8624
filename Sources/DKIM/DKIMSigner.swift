@preconcurrency import Crypto
import Foundation

/// Signs messages for one domain and selector
/// ([RFC 6376 §5](https://www.rfc-editor.org/rfc/rfc6376#section-5)): relaxed/relaxed by
/// default, the fields of `defaultHeaderNames` that the message has, From
/// over-signed, t= always and x= when an expiry is set.
public struct DKIMSigner: Sendable {
    public var domain: String
    public var selector: String
    public var key: DKIMSigningKey
    public var headerNames: [String]
    public var headerCanonicalization: DKIMCanonicalization = .relaxed
    public var bodyCanonicalization: DKIMCanonicalization = .relaxed
    /// x= is t= plus this many seconds; nil writes no x=.
    public var expiry: Int?

    /// Fields that carry meaning a reader sees or a list uses (§5.4.1 and
    /// its recommendations); Received, Return-Path and trace fields are left
    /// out because relays add to them.
    public static let defaultHeaderNames = [
        "From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-ID",
        "Content-Description", "Resent-From", "Resent-To", "Resent-Cc", "Resent-Date", "Resent-Message-ID",
        "List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe", "List-Post",
        "List-Owner", "List-Archive", "Autocrypt", "Feedback-ID",
    ]

    public init(domain: String, selector: String, key: DKIMSigningKey, headerNames: [String] = defaultHeaderNames,
                expiry: Int? = nil) {
        self.domain = domain
        self.selector = selector
        self.key = key
        self.headerNames = headerNames
        self.expiry = expiry
    }

    /// Starts signing one message; feed it whole (header section, empty
    /// line, body) with `update`, then `finish`.
    public func begin(now: Date = Date(), maxHeaderBytes: Int = DKIMDefaults.maxHeaderBytes) -> DKIMSigning {
        DKIMSigning(signer: self, timestamp: Int(now.timeIntervalSince1970), maxHeaderBytes: maxHeaderBytes)
    }

    /// Signs a message held in memory; returns the DKIM-Signature field.
    public func sign(message: some Collection<UInt8>, now: Date = Date()) throws(DKIMError) -> String {
        var signing = begin(now: now)
        try signing.update(message)
        return try signing.finish()
    }

    /// h=: each listed name as often as the message has it, then From once
    /// more (over-signing, §8.15) so that no From can be added unseen.
    func signedNames(for fields: [DKIMHeaderField]) -> [String] {
        var names: [String] = []
        for name in headerNames {
            let count = fields.filter { $0.lowercasedName == name.lowercased() }.count
            names += Array(repeating: name, count: count)
        }
        names.append("From")
        return names
    }
}

/// One message being signed: the header section is kept, the body is hashed
/// as it passes.
public struct DKIMSigning: Sendable {
    let signer: DKIMSigner
    let timestamp: Int
    private var splitter: DKIMMessageSplitter
    private var body: DKIMBodyHasher
    private var fields: [DKIMHeaderField] = []

    init(signer: DKIMSigner, timestamp: Int, maxHeaderBytes: Int) {
        self.signer = signer
        self.timestamp = timestamp
        splitter = DKIMMessageSplitter(maxHeaderBytes: maxHeaderBytes)
        body = DKIMBodyHasher(canonicalization: signer.bodyCanonicalization)
    }

    public mutating func update(_ chunk: some Collection<UInt8>) throws(DKIMError) {
        var fields = self.fields, body = self.body
        try splitter.feed(chunk) { (part) throws(DKIMError) in
            switch part {
            case .header(let section): fields = DKIMHeaderField.fields(in: section)
            case .body(let bytes): body.update(bytes)
            }
        }
        self.fields = fields
        self.body = body
    }

    /// The DKIM-Signature field to put on top of the message, CRLF-ended.
    public mutating func finish() throws(DKIMError) -> String {
        var fields = self.fields
        try splitter.finish { (part) throws(DKIMError) in
            if case .header(let section) = part { fields = DKIMHeaderField.fields(in: section) }
        }
        guard fields.contains(where: { $0.lowercasedName == "from" }) else { throw .message("no From field to sign") }
        var field = DKIMSignatureField(algorithm: signer.key.algorithm, domain: signer.domain, selector: signer.selector,
                                       signedHeaders: signer.signedNames(for: fields),
                                       headerCanonicalization: signer.headerCanonicalization,
                                       bodyCanonicalization: signer.bodyCanonicalization)
        field.timestamp = timestamp
        field.expiration = signer.expiry.map { timestamp + $0 }
        field.bodyHash = body.finalize()
        guard let unsigned = DKIMHeaderField(bytes: Array(field.rendered.utf8)) else { throw .message("cannot render field") }
        let digest = DKIMHeaderHash.digest(signed: field.signedHeaders, fields: fields, signatureField: unsigned,
                                           canonicalization: field.headerCanonicalization)
        field.signature = try signer.key.sign(digest: digest)
        return field.rendered
    }
}

/// Limits of the DKIM code, in one place.
public enum DKIMDefaults {
    /// A header section longer than this is not signed or verified.
    public static let maxHeaderBytes = 1 << 20
    /// Signatures verified per message; later ones are reported neutral
    /// (each costs a DNS query and a public-key operation).
    public static let maxSignatures = 8
}
