// The commit journal (CommitJournal), read back at start-up after a crash,
// whatever a torn write or a bad disk left in it. Invariants: the records
// found lie one after another from the header's end, each inside the input;
// each one's header is what the writer makes for its kind, ID and payload;
// a journal rebuilt from the records found parses to the same records; and
// a journal cut inside its last record parses to the ones before it.
@testable import MailQueue

enum JournalTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let (generation, records) = CommitJournal.parse(bytes) else { return }
        var expectedStart = CommitJournal.headerSize
        var rebuilt = CommitJournal.header(generation: generation)
        rebuilt += [UInt8](repeating: 0, count: CommitJournal.headerSize - rebuilt.count)
        for record in records {
            let headerStart = record.payload.lowerBound - CommitJournal.recordHeaderSize
            invariant(headerStart == expectedStart, "record at \(headerStart), expected \(expectedStart)")
            invariant(record.payload.upperBound <= bytes.count, "payload \(record.payload) past the end \(bytes.count)")
            invariant(record.kind == .commit || record.payload.isEmpty, "a removal with a payload")
            let payload = UnsafeRawBufferPointer(rebasing: bytes[record.payload])
            let header = CommitJournal.recordHeader(record.kind, id: record.id, generation: generation, payload: payload)
            invariant(header.elementsEqual(bytes[headerStart..<record.payload.lowerBound]), "header of \(record.id) not as written")
            rebuilt += header
            rebuilt += payload
            expectedStart = record.payload.upperBound
        }
        let again = rebuilt.withUnsafeBytes { CommitJournal.parse($0) }
        invariant(again?.generation == generation && again?.records == records, "rebuilt journal parses differently")
        if let last = records.last {
            let cut = rebuilt.withUnsafeBytes { CommitJournal.parse(UnsafeRawBufferPointer(rebasing: $0[0..<(last.payload.upperBound - 1)])) }
            invariant(cut?.records == Array(records.dropLast()), "a torn last record was read")
        }
    }
}
