// The queue's envelope files (EnvelopeCodec), read back at start-up after
// a crash, whatever a torn write or a bad disk left in them. Invariant: an
// envelope that decodes encodes to a file that decodes to an equal
// envelope — dates equal to the microsecond the format writes.
// The same input is also read as a whole queue record (MessageRecord: body,
// envelope, trailer): what reads from the whole file reads the same from a
// tail of it that holds envelope and trailer, and nothing reads from a tail
// that does not; a record written for the envelope read back reads back.
import Foundation
@testable import MailQueue

enum EnvelopeTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        record(Array(bytes))
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

    static func record(_ file: [UInt8]) {
        guard let whole = try? MessageRecord.envelope(tail: file, fileSize: file.count),
              let offset = MessageRecord.envelopeOffset(trailer: file[(file.count - MessageRecord.trailerSize)...]) else { return }
        for cut in [0, 1, offset / 2, offset, offset + 1] where cut <= file.count {
            let tail = try? MessageRecord.envelope(tail: Array(file[cut...]), fileSize: file.count)
            invariant(cut <= offset ? tail != nil : tail == nil, "a tail from \(cut) (envelope at \(offset)) read \(tail.map { "\($0)" } ?? "nothing")")
        }
        let rewritten = Array(file[..<offset]) + MessageRecord.suffix(for: whole)
        guard let again = try? MessageRecord.envelope(tail: rewritten, fileSize: rewritten.count) else {
            invariant(false, "a record written for \(whole) does not read back")
            return
        }
        invariant(again.id == whole.id && again.recipients == whole.recipients && again.sender == whole.sender,
                  "record read back as \(again), not \(whole)")
    }

    /// Within the microsecond the file keeps, and what a Double of that size holds.
    static func sameInstant(_ lhs: Date, _ rhs: Date) -> Bool {
        let seconds = lhs.timeIntervalSince1970
        return abs(seconds - rhs.timeIntervalSince1970) <= 0.000_001 + 2 * seconds.ulp
    }
}
