@preconcurrency import Crypto
import Foundation

/// One message being verified (see `DKIMVerifier`): its signatures are read
/// when the header section is complete, their body hashes computed as the
/// body passes.
public struct DKIMVerification: Sendable {
    /// A signature waiting for its key: everything the message itself
    /// decides is computed already.
    struct Pending: Sendable {
        var signature: DKIMSignatureField
        var headerDigest: SHA256.Digest
        var bodyHash: [UInt8] = []
        var canonicalBodyLength = 0
        /// Index into `hashers`.
        var hasher: Int
    }

    enum Check: Sendable {
        case decided(DKIMSignatureResult)
        case pending(Pending)
    }

    let now: Date
    let maxSignatures: Int
    private var splitter: DKIMMessageSplitter
    private var checks: [Check] = []
    private var hashers: [DKIMBodyHasher] = []

    init(now: Date, maxSignatures: Int, maxHeaderBytes: Int) {
        self.now = now
        self.maxSignatures = maxSignatures
        splitter = DKIMMessageSplitter(maxHeaderBytes: maxHeaderBytes)
    }

    /// Feeds the next chunk of the message (header section, empty line,
    /// body; CRLF line ends). Throws only for a header section too long.
    public mutating func update(_ chunk: some Collection<UInt8>) throws(DKIMError) {
        var splitter = self.splitter
        try splitter.feed(chunk) { (part) throws(DKIMError) in self.handle(part) }
        self.splitter = splitter
    }

    mutating func finish() -> [Check] {
        var splitter = self.splitter
        try? splitter.finish { (part) throws(DKIMError) in self.handle(part) }
        self.splitter = splitter
        let digests = hashers.indices.map { hashers[$0].finalize() }
        return checks.map { check in
            guard case .pending(var pending) = check else { return check }
            pending.bodyHash = digests[pending.hasher]
            pending.canonicalBodyLength = hashers[pending.hasher].canonicalLength
            return .pending(pending)
        }
    }

    private mutating func handle(_ part: DKIMMessageSplitter.Part) {
        switch part {
        case .header(let section):
            readSignatures(DKIMHeaderField.fields(in: section))
        case .body(let bytes):
            for index in hashers.indices { hashers[index].update(bytes) }
        }
    }

    private mutating func readSignatures(_ fields: [DKIMHeaderField]) {
        let signatureName = DKIMSignatureField.fieldName.lowercased()
        for field in fields where field.lowercasedName == signatureName {
            guard checks.count < maxSignatures else {
                checks.append(.decided(DKIMSignatureResult(result: .neutral("too many signatures"))))
                continue
            }
            let signature: DKIMSignatureField
            do { signature = try DKIMSignatureField(parsing: field.value) } catch {
                var result = DKIMSignatureResult(result: .neutral("\(error)"))
                // Name the signature if its d= and s= can be read at all.
                if let list = try? DKIMTagList(parsing: field.value) {
                    result.domain = list["d"]?.lowercased()
                    result.selector = list["s"]
                }
                checks.append(.decided(result))
                continue
            }
            let digest = DKIMHeaderHash.digest(signed: signature.signedHeaders, fields: fields, signatureField: field,
                                               canonicalization: signature.headerCanonicalization)
            checks.append(.pending(Pending(signature: signature, headerDigest: digest, hasher: hasher(for: signature))))
        }
    }

    /// Signatures with the same body canonicalisation and l= share a hasher.
    private mutating func hasher(for signature: DKIMSignatureField) -> Int {
        if let index = hashers.firstIndex(where: {
            $0.canonicalization == signature.bodyCanonicalization && $0.limit == signature.bodyLength
        }) {
            return index
        }
        hashers.append(DKIMBodyHasher(canonicalization: signature.bodyCanonicalization, limit: signature.bodyLength))
        return hashers.count - 1
    }
}
