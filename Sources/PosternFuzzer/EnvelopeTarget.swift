// The queue's envelope files (EnvelopeCodec), read back at start-up after
// a crash, whatever a torn write or a bad disk left in them. Invariant: an
// envelope that decodes encodes to a file that decodes to an equal
// envelope — dates equal to the microsecond the format writes.
import Foundation
import MailQueue

enum EnvelopeTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let envelope = try? EnvelopeCodec.decode(Array(bytes)) else { return }
        let encoded = EnvelopeCodec.encode(envelope)
        var decoded: Envelope
        do {
            decoded = try EnvelopeCodec.decode(encoded)
        } catch {
            invariant(false, "encoded envelope does not decode: \(error)\n\(String(decoding: encoded, as: UTF8.self))")
            return
        }
        invariant(sameInstant(decoded.created, envelope.created), "created \(envelope.created) came back as \(decoded.created)")
        decoded.created = envelope.created
        switch (decoded.nextAttempt, envelope.nextAttempt) {
        case (let back?, let original?):
            invariant(sameInstant(back, original), "next attempt \(original) came back as \(back)")
            decoded.nextAttempt = original
        case (nil, nil):
            break
        case (let back, let original):
            invariant(false, "next attempt \(String(describing: original)) came back as \(String(describing: back))")
        }
        invariant(decoded == envelope, "decoded \(decoded), not \(envelope)")
    }

    /// Within the microsecond the file keeps, and what a Double of that size holds.
    static func sameInstant(_ lhs: Date, _ rhs: Date) -> Bool {
        let seconds = lhs.timeIntervalSince1970
        return abs(seconds - rhs.timeIntervalSince1970) <= 0.000_001 + 2 * seconds.ulp
    }
}
