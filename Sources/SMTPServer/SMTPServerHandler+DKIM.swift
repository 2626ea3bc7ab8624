import DKIM
import Logging
import MailQueue

extension LateFields {
    /// Signs the message exactly as it will be delivered (these fields, then
    /// the spool from `bodyOffset`) and puts the DKIM-Signature first among
    /// the added fields, so nothing Postern adds later is inside what it
    /// covers. Reads the spool in blocks, off the event loop (the caller is
    /// the policy task). A failure leaves the message unsigned and says so.
    mutating func sign(with table: DKIMSigningTable, content: (bytes: [UInt8]?, path: String?), logger: Logger) {
        var signing = table.begin()
        do {
            try signing.update(Array(fields.joined().utf8))
            if let bytes = content.bytes {
                try signing.update(bytes[min(bodyOffset, bytes.count)...])
            } else if let path = content.path {
                var failure: DKIMError?
                try Spool.forEachBlock(path: path, offset: bodyOffset) { block in
                    guard failure == nil else { return }
                    do throws(DKIMError) { try signing.update(block) } catch { failure = error }
                }
                if let failure { throw failure }
            }
            guard let field = try signing.finish() else { return }
            fields.insert(field, at: 0)
            if let signer = signing.signer {
                logger.debug("dkim signed", metadata: ["d": "\(signer.domain)", "s": "\(signer.selector)"])
            }
            SMTPServerMetrics.dkimSigned.increment()
        } catch {
            logger.warning("dkim signing failed; message left unsigned", metadata: ["error": "\(error)"])
            SMTPServerMetrics.dkimFailed.increment()
        }
    }
}
