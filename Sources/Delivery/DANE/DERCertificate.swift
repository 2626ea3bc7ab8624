/// Just enough DER (ITU-T X.690) to cut the SubjectPublicKeyInfo out of a
/// certificate exactly as it was signed: TLSA selector 1 hashes those octets
/// (RFC 6698 §2.1.2), and re-encoding a parsed key could change them.
enum DERCertificate {
    /// The whole SubjectPublicKeyInfo element (tag and length included) of an X.509
    /// certificate (RFC 5280 §4.1): the seventh field of tbsCertificate, or the sixth
    /// when the optional [0] version is absent.
    static func subjectPublicKeyInfo(_ der: [UInt8]) -> ArraySlice<UInt8>? {
        guard let certificate = element(der[...]), certificate.tag == 0x30,
              let tbs = element(certificate.content), tbs.tag == 0x30
        else { return nil }
        var rest = tbs.content
        var index = 0
        while let field = element(rest) {
            if index == 0 && field.tag != 0xA0 { index = 1 }  // no explicit version
            if index == 6 { return field.tag == 0x30 ? field.whole : nil }
            rest = rest[field.whole.endIndex...]
            index += 1
        }
        return nil
    }

    struct Element {
        var tag: UInt8
        var whole: ArraySlice<UInt8>
        var content: ArraySlice<UInt8>
    }

    /// The first element of `bytes`: a one-octet tag and a definite length (DER has
    /// no other kind).
    static func element(_ bytes: ArraySlice<UInt8>) -> Element? {
        var index = bytes.startIndex
        guard bytes.count >= 2 else { return nil }
        let tag = bytes[index]
        guard tag & 0x1F != 0x1F else { return nil }  // multi-octet tags do not occur here
        index += 1
        var length = Int(bytes[index])
        index += 1
        if length & 0x80 != 0 {
            let octets = length & 0x7F
            guard (1...4).contains(octets), bytes.endIndex - index >= octets else { return nil }
            length = bytes[index..<(index + octets)].reduce(0) { $0 << 8 | Int($1) }
            index += octets
        }
        guard bytes.endIndex - index >= length else { return nil }
        return Element(tag: tag, whole: bytes[bytes.startIndex..<(index + length)], content: bytes[index..<(index + length)])
    }
}
