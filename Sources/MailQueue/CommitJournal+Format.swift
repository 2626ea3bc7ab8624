import CPosternSys

/// The commit journal's octets (the layout is in `CommitJournal`'s
/// comment): writing headers and records, and reading them back, which a
/// replay does and the `journal` fuzz target checks.
extension CommitJournal {
    enum Kind: UInt8 {
        case commit = 1
        case removal = 2
    }

    struct Record: Equatable {
        var kind: Kind
        var id: QueueID
        /// The payload's place in the scanned bytes.
        var payload: Range<Int>
    }

    static func header(generation: UInt64) -> [UInt8] {
        var bytes = headerMagic
        append(version, to: &bytes)
        append(generation, to: &bytes)
        append(crc(bytes), to: &bytes)
        return bytes
    }

    /// The generation a header names, or nil if `bytes` starts with none.
    static func generation(header bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count >= 32, bytes.prefix(16).elementsEqual(headerMagic),
              load(UInt32.self, bytes, 16) == version,
              load(UInt32.self, bytes, 28) == postern_crc32c(0, bytes.baseAddress, 28) else { return nil }
        return load(UInt64.self, bytes, 20)
    }

    /// A record's header; its CRC covers `payload` too.
    static func recordHeader(_ kind: Kind, id: QueueID, generation: UInt64,
                             payload: UnsafeRawBufferPointer...) -> [UInt8] {
        var bytes = recordMagic + [kind.rawValue, 0, 0, 0]
        append(generation, to: &bytes)
        append(id.value, to: &bytes)
        append(UInt32(payload.reduce(0) { $0 + $1.count }), to: &bytes)
        var sum = crc(bytes)
        for part in payload { sum = postern_crc32c(sum, part.baseAddress, part.count) }
        append(sum, to: &bytes)
        return bytes
    }

    /// A record header of `generation`: its kind and payload length, or
    /// nil when the 32 octets are not one (the CRC is the caller's check).
    private static func recordHead(_ head: UnsafeRawBufferPointer, generation: UInt64) -> (kind: Kind, length: Int)? {
        guard head.prefix(4).elementsEqual(recordMagic), let kind = Kind(rawValue: head[4]),
              head[5] == 0, head[6] == 0, head[7] == 0,
              load(UInt64.self, head, 8) == generation else { return nil }
        return (kind, Int(load(UInt32.self, head, 24)))
    }

    /// The whole records of `generation` from `start`, in order, up to the
    /// first that is not (torn, another generation's, or past the end).
    static func records(in bytes: UnsafeRawBufferPointer, from start: Int = headerSize, generation: UInt64) -> [Record] {
        var found: [Record] = []
        var offset = start
        while offset >= 0, bytes.count - offset >= recordHeaderSize {
            let head = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + recordHeaderSize)])
            guard let (kind, length) = recordHead(head, generation: generation) else { break }
            let payloadStart = offset + recordHeaderSize
            guard length <= bytes.count - payloadStart, kind == .commit || length == 0 else { break }
            var sum = postern_crc32c(0, head.baseAddress, 28)
            sum = postern_crc32c(sum, bytes.baseAddress.map { $0 + payloadStart }, length)
            guard sum == load(UInt32.self, head, 28) else { break }
            found.append(Record(kind: kind, id: QueueID(value: load(UInt64.self, head, 16)),
                                payload: payloadStart..<(payloadStart + length)))
            offset = payloadStart + length
        }
        return found
    }

    /// The same walk over a journal file of `fileSize` octets, read at most
    /// `window` octets at a time through `read(offset, count)` (one larger
    /// read for a record longer than the window), so a replay holds one
    /// window rather than the whole file (up to 1 GiB; after a clean stop it
    /// holds a header alone). Payload ranges are the file's offsets.
    static func records(fileSize: Int, generation: UInt64, window: Int,
                        read: (_ offset: Int, _ count: Int) throws(QueueIOError) -> [UInt8]) throws(QueueIOError) -> [Record] {
        var found: [Record] = []
        var offset = headerSize, want = max(window, recordHeaderSize)
        while fileSize - offset >= recordHeaderSize {
            let count = min(want, fileSize - offset)
            let bytes = try read(offset, count)
            guard bytes.count == count else { break }
            want = max(window, recordHeaderSize)
            let batch = bytes.withUnsafeBytes { records(in: $0, from: 0, generation: generation) }
            let stop = batch.last?.payload.upperBound ?? 0
            found += batch.map { Record(kind: $0.kind, id: $0.id, payload: ($0.payload.lowerBound + offset)..<($0.payload.upperBound + offset)) }
            // The walk stopped at the file's end, or at a record that is whole
            // in this window and not valid: that is where the journal ends.
            if offset + count == fileSize { break }
            if bytes.count - stop >= recordHeaderSize {
                let next = bytes.withUnsafeBytes { recordHead(UnsafeRawBufferPointer(rebasing: $0[stop..<(stop + recordHeaderSize)]), generation: generation) }
                guard let next, bytes.count - stop < recordHeaderSize + next.length,
                      next.length <= fileSize - offset - stop - recordHeaderSize else { break }
                want = max(want, recordHeaderSize + next.length) // runs past the window: read it whole
            }
            offset += stop
        }
        return found
    }

    /// The records of a whole journal file's octets (header and records),
    /// or nil when it has no valid header, all in memory: what the fuzzer
    /// feeds, and what `replay`'s windowed walk must agree with.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> (generation: UInt64, records: [Record])? {
        guard let generation = generation(header: bytes) else { return nil }
        return (generation, records(in: bytes, generation: generation))
    }

    private static func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { postern_crc32c(0, $0.baseAddress, $0.count) }
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    private static func load<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, _ offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
