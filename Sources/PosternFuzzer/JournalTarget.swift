// The commit journal (CommitJournal), read back at start-up after a crash,
// whatever a torn write or a bad disk left in it. Invariants: the records
// found lie one after another from the header's end, each inside the input;
// each one's header is what the writer makes for its kind, ID and payload;
// a journal rebuilt from the records found parses to the same records; a
// journal cut inside its last record parses to the ones before it; and the
// replay's walk a window at a time finds what the walk over the whole does.
// Each input is checked as it is, then with every CRC it has room for set
// right (header, then record by record as their lengths lead): mutations
// would otherwise almost never get past the checksums to the record walker.
import CPosternSys
@testable import MailQueue

enum JournalTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        check(bytes)
        var repaired = Array(bytes)
        let records = withCRCsSet(&repaired)
        repaired.withUnsafeBytes { raw in
            check(raw)
            // Whole records with their CRCs set are all read, when the
            // header is one.
            if let parsed = CommitJournal.parse(raw) {
                invariant(parsed.records.count <= records, "\(parsed.records.count) records read, \(records) laid out")
            }
        }
    }

    /// Sets the header's CRC and each record's, walking records by their
    /// length fields from the end of the header; the number walked.
    static func withCRCsSet(_ bytes: inout [UInt8]) -> Int {
        guard bytes.count >= 32 else { return 0 }
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: postern_crc32c(0, raw.baseAddress, 28).littleEndian, toByteOffset: 28, as: UInt32.self)
        }
        var offset = CommitJournal.headerSize, walked = 0
        while bytes.count - offset >= CommitJournal.recordHeaderSize {
            let length = Int(UInt32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 24, as: UInt32.self) }))
            let payload = offset + CommitJournal.recordHeaderSize
            guard length <= bytes.count - payload else { break }
            bytes.withUnsafeMutableBytes { raw in
                var sum = postern_crc32c(0, raw.baseAddress! + offset, 28)
                sum = postern_crc32c(sum, raw.baseAddress! + payload, length)
                raw.storeBytes(of: sum.littleEndian, toByteOffset: offset + 28, as: UInt32.self)
            }
            offset = payload + length
            walked += 1
        }
        return walked
    }

    static func check(_ bytes: UnsafeRawBufferPointer) {
        guard let (generation, records) = CommitJournal.parse(bytes) else { return }
        for window in [32, 33, 100, 4096] {
            let windowed = try? CommitJournal.records(fileSize: bytes.count, generation: generation, window: window) { offset, count in
                Array(bytes[offset..<min(offset + count, bytes.count)])
            }
            invariant(windowed == records, "read \(window) octets at a time: \(windowed ?? []), whole: \(records)")
        }
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
