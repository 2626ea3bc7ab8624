import DNSModel
import Foundation

/// Verifies every DKIM-Signature of a message
/// ([RFC 6376 §6](https://www.rfc-editor.org/rfc/rfc6376#section-6)), the
/// keys fetched through a `DNSResolver` (whose cache serves repeats).
///
///     var verification = verifier.begin()
///     try verification.update(chunk)          // the whole message, in chunks
///     let results = await verifier.finish(verification)
///
/// The body is hashed as it passes, once per distinct (canonicalisation,
/// l=) pair in use; only the header section is kept.
public struct DKIMVerifier: Sendable {
    public let resolver: any DNSResolver
    public var maxSignatures = DKIMDefaults.maxSignatures
    public var maxHeaderBytes = DKIMDefaults.maxHeaderBytes

    public init(resolver: any DNSResolver) {
        self.resolver = resolver
    }

    public func begin(now: Date = Date()) -> DKIMVerification {
        DKIMVerification(now: now, maxSignatures: maxSignatures, maxHeaderBytes: maxHeaderBytes)
    }

    /// Verifies a message held in memory (CRLF line ends).
    public func verify(message: some Collection<UInt8>, now: Date = Date()) async -> [DKIMSignatureResult] {
        var verification = begin(now: now)
        do { try verification.update(message) } catch {
            return [DKIMSignatureResult(result: .permerror("\(error)"))]
        }
        return await finish(verification)
    }

    /// One result per DKIM-Signature field, top to bottom; empty when the
    /// message has none (RFC 8601's `dkim=none`).
    public func finish(_ verification: DKIMVerification) async -> [DKIMSignatureResult] {
        var verification = verification
        let checks = verification.finish()
        var results: [DKIMSignatureResult] = []
        for check in checks {
            switch check {
            case .decided(let result):
                results.append(result)
            case .pending(let pending):
                results.append(await verify(pending, now: verification.now))
            }
        }
        return results
    }

    private func verify(_ pending: DKIMVerification.Pending, now: Date) async -> DKIMSignatureResult {
        let signature = pending.signature
        var outcome = DKIMSignatureResult(signature)
        if let expiration = signature.expiration, Int(now.timeIntervalSince1970) > expiration {
            outcome.result = .permerror("signature expired")
            return outcome
        }
        let key: DKIMKeyRecord
        switch await fetchKey(selector: signature.selector, domain: signature.domain) {
        case .found(let record): key = record
        case .failed(let result):
            outcome.result = result
            return outcome
        }
        outcome.testing = key.testing
        outcome.result = Self.check(pending, key: key)
        return outcome
    }

    /// §6.1.2–6.1.3 once the key is known.
    static func check(_ pending: DKIMVerification.Pending, key: DKIMKeyRecord) -> DKIMResult {
        let signature = pending.signature
        if key.isRevoked { return .permerror("key revoked") }
        guard key.keyType == signature.algorithm.keyType else { return .permerror("key type does not match a=") }
        if let hashes = key.hashAlgorithms, !hashes.contains("sha256") { return .permerror("key does not allow sha256") }
        if key.strictIdentity && signature.identityDomain != signature.domain {
            return .permerror("key requires i= to be d= (t=s)")
        }
        if let limit = signature.bodyLength, limit > pending.canonicalBodyLength {
            return .fail("l= is longer than the body")
        }
        guard pending.bodyHash == signature.bodyHash else { return .fail("body hash did not verify") }
        do {
            guard try key.verify(signature: signature.signature, digest: pending.headerDigest) else {
                return .fail("signature did not verify")
            }
        } catch {
            return .permerror("\(error)")
        }
        return .pass
    }

    private enum KeyLookup {
        case found(DKIMKeyRecord)
        case failed(DKIMResult)
    }

    private func fetchKey(selector: String, domain: String) async -> KeyLookup {
        guard let name = DNSName("\(selector)._domainkey.\(domain)") else {
            return .failed(.permerror("invalid key name \(selector)._domainkey.\(domain)"))
        }
        switch await resolver.lookupTXT(name) {
        case .failure(let error):
            return .failed(.temperror("key lookup: \(error)"))
        case .void:
            return .failed(.permerror("no key for selector \(selector)"))
        case .answer(let records, _):
            var firstError: DKIMError?
            for record in records {
                do { return .found(try DKIMKeyRecord(parsing: record.joined)) } catch {
                    if firstError == nil { firstError = error }
                }
            }
            return .failed(.permerror(firstError.map { "\($0)" } ?? "no key record"))
        }
    }
}

extension DKIMSignatureResult {
    init(_ signature: DKIMSignatureField) {
        self.init(result: .neutral("not checked"), domain: signature.domain, selector: signature.selector)
        identityDomain = signature.identityDomain
        signaturePrefix = signature.signaturePrefix
        algorithm = signature.algorithm
    }
}
