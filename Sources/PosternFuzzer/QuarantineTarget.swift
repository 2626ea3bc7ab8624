// The fields at the top of a quarantine file (QuarantineRecord), read back
// for every listing, IMAP/POP3 session and release, whatever a crash, a
// full disk or an operator's editor left in the file. Invariants: the
// record read back from what it writes is the same record, DSN parameters
// included (but for a text word too long for a line, which folding splits
// once); the fields it writes end where `parse` says they end; and the
// message after them is never taken for fields.
import Foundation
import MailQueue

enum QuarantineTarget {
    static let date = Date(timeIntervalSince1970: 1_765_000_000)

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let input = Array(bytes)
        guard let (record, length) = try? QuarantineRecord.parse(input, fileDate: date) else { return }
        invariant(length <= input.count, "fields end at \(length), past the input (\(input.count))")
        let fields = record.headerFields
        let message = Array("Subject: x\r\nX-Postern-Recipient: <forged@example.org>\r\n\r\nbody\r\n".utf8)
        let again: (record: QuarantineRecord, length: Int)
        do {
            again = try QuarantineRecord.parse(fields + message, fileDate: date)
        } catch {
            invariant(false, "written fields do not read back: \(error)\n\(String(decoding: fields, as: UTF8.self))")
            return
        }
        invariant(again.length == fields.count, "written fields are \(fields.count) octets, read as \(again.length)")
        if again.record == record { return }
        // Folding splits a word longer than a line can be (998 octets): such
        // a text value reads back with a space in it, once; after that the
        // record is stable.
        let texts = [record.clientAddress, record.clientHelo ?? "", record.receivedProtocol, record.reason]
        invariant(texts.contains { $0.split(separator: " ").contains { $0.utf8.count > 900 } },
                  "read back \(again.record), not \(record)")
        let third = try? QuarantineRecord.parse(again.record.headerFields, fileDate: date)
        invariant(third?.record == again.record, "a record written twice read back \(String(describing: third?.record)), not \(again.record)")
    }
}
