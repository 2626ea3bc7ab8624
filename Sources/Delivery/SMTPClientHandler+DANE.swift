import NIOCore
import NIOSSL

extension SMTPClientHandler {
    /// The NIOSSL verification callback for a DANE next hop: the chain the server
    /// sent is checked against its TLSA records alone (RFC 7672 §3.1); a mismatch
    /// fails the handshake, so the hop is not used and no plaintext retry follows
    /// (the policy is `.required`).
    func daneVerification(_ expectation: DANEExpectation) -> NIOSSLCustomVerificationCallback {
        { [self] certificates, promise in
            let chain = certificates.compactMap { try? $0.toDERBytes() }
            let verdict = DANEMatcher.verify(chain: chain, expectation: expectation)
            switch verdict {
            case .verified:
                logger.info("DANE verified", metadata: ["tls_policy": "dane", "verified": "true", "detail": "\(verdict)"])
                promise.succeed(.certificateVerified)
            case .failed(let reason):
                daneFailure = reason
                logger.notice("DANE verification failed", metadata: [
                    "tls_policy": "dane", "verified": "false", "reason": "\(reason)", "tlsa": "\(expectation)",
                ])
                promise.succeed(.failed)
            }
        }
    }
}
