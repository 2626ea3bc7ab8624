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

    /// The whole records of `generation` from `start`, in order, up to the
    /// first that is not (torn, another generation's, or past the end).
    static func records(in bytes: UnsafeRawBufferPointer, from start: Int = headerSize, generation: UInt64) -> [Record] {
        var found: [Record] = []
        var offset = start
        while offset >= 0, bytes.count - offset >= recordHeaderSize {
            let head = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + recordHeaderSize)])
            guard head.prefix(4).elementsEqual(recordMagic), let kind = Kind(rawValue: head[4]),
                  head[5] == 0, head[6] == 0, head[7] == 0,
                  load(UInt64.self, head, 8) == generation else { break }
            let length = Int(load(UInt32.self, head, 24))
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

    /// The records of a whole journal file's octets (header and records),
    /// or nil when it has no valid header: what `replay` acts on, and what
    /// the fuzzer feeds.
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
