// The fields at the top of a quarantine file (QuarantineRecord), read back
// for every listing, IMAP/POP3 session and release, whatever a crash, a
// full disk or an operator's editor left in the file. Invariants: the
// record read back from what it writes is the same record, DSN parameters
// included; the fields it writes end where `parse` says they end; and the
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
        var expected = record
        // Parameters of addresses that are not recipients are not written.
        expected.recipientParameters = record.recipientParameters.filter { record.recipients.contains($0.key) }
        invariant(again.record == expected, "read back \(again.record), not \(expected)")
    }
}
