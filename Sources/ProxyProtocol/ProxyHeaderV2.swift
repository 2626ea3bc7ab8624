import DNSModel

/// The binary header (proxy-protocol.txt §2.2): a 12-octet signature, the
/// version and command, the family and transport, a length, then the
/// addresses and TLVs. TLVs are checked for framing and otherwise skipped.
enum ProxyHeaderV2 {
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// The largest header accepted: fixed part, two UNIX addresses, TLVs.
    static let maxLength = ProxyProtocolLimits.v2FixedLength + 216 + ProxyProtocolLimits.maxV2TLVLength

    /// The address block of each family: UNSPEC, INET, INET6, UNIX.
    private static let addressLengths = [0, 12, 36, 216]

    /// The header and the octets it took; nil until all of it is in. The
    /// fixed fields are checked as soon as they arrive, so a bad header is
    /// refused at once ("abort the connection as soon as possible", §2.1).
    static func parse(_ bytes: [UInt8]) throws(ProxyHeaderError) -> (header: ProxyHeader, length: Int)? {
        guard bytes.agrees(with: signature) else { throw .notProxyProtocol }
        guard bytes.count > 12 else { return nil }
        let version = bytes[12] >> 4, command = bytes[12] & 0x0F
        guard version == 2 else { throw .unsupportedVersion(version) }
        // 0 LOCAL (a health check: the real endpoints stand), 1 PROXY.
        guard command <= 1 else { throw .unsupportedCommand(command) }
        guard bytes.count > 13 else { return nil }
        let family = Int(bytes[13] >> 4), transport = bytes[13] & 0x0F
        guard family <= 3, transport <= 2 else { throw .unsupportedFamily(bytes[13]) }
        guard bytes.count >= ProxyProtocolLimits.v2FixedLength else { return nil }
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        guard length - addressLengths[family] <= ProxyProtocolLimits.maxV2TLVLength else { throw .headerTooLong(length) }
        // Only TCP over IPv4/IPv6 is read; every other valid combination
        // falls back to the real endpoints, as §2.2 allows a receiver.
        let readsAddresses = command == 1 && transport == 1 && (family == 1 || family == 2)
        let needed = readsAddresses ? addressLengths[family] : 0
        guard length >= needed else { throw .addressesTruncated(length: length, needed: needed) }
        let total = ProxyProtocolLimits.v2FixedLength + length
        guard bytes.count >= total else { return nil }
        guard readsAddresses else { return (ProxyHeader(version: .v2, endpoints: nil), total) }
        let block = bytes[ProxyProtocolLimits.v2FixedLength..<total]
        let endpoints = family == 1 ? ipv4(block) : ipv6(block)
        try checkTLVs(block.dropFirst(needed))
        return (ProxyHeader(version: .v2, endpoints: endpoints), total)
    }

    private static func ipv4(_ block: ArraySlice<UInt8>) -> ProxyHeader.Endpoints {
        let start = block.startIndex
        return .init(source: .v4(IPv4Address(block[start], block[start + 1], block[start + 2], block[start + 3])),
                     sourcePort: uint16(block, at: start + 8),
                     destination: .v4(IPv4Address(block[start + 4], block[start + 5], block[start + 6], block[start + 7])),
                     destinationPort: uint16(block, at: start + 10))
    }

    private static func ipv6(_ block: ArraySlice<UInt8>) -> ProxyHeader.Endpoints {
        let start = block.startIndex
        func address(at offset: Int) -> IPAddress {
            .v6(IPv6Address(groups: (0..<8).map { uint16(block, at: offset + 2 * $0) }))
        }
        return .init(source: address(at: start), sourcePort: uint16(block, at: start + 32),
                     destination: address(at: start + 16), destinationPort: uint16(block, at: start + 34))
    }

    private static func uint16(_ bytes: ArraySlice<UInt8>, at index: Int) -> UInt16 {
        UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
    }

    /// Each TLV is a type octet, a two-octet length and that many octets;
    /// together they fill the rest of the header exactly.
    private static func checkTLVs(_ tlvs: ArraySlice<UInt8>) throws(ProxyHeaderError) {
        var index = tlvs.startIndex
        while index < tlvs.endIndex {
            guard tlvs.endIndex - index >= 3 else { throw .malformedTLV }
            let valueLength = Int(uint16(tlvs, at: index + 1))
            index += 3 + valueLength
            guard index <= tlvs.endIndex else { throw .malformedTLV }
        }
    }
}
