/// Header canonicalisation ([RFC 6376 §3.4.1–3.4.2](https://www.rfc-editor.org/rfc/rfc6376#section-3.4.1)).
enum DKIMHeaderCanonicalizer {
    /// The field as it enters the header hash, ending in CRLF.
    static func canonicalize(_ field: DKIMHeaderField, _ method: DKIMCanonicalization) -> [UInt8] {
        switch method {
        case .simple:
            return field.bytes
        case .relaxed:
            return relaxed(name: field.lowercasedName, value: field.value)
        }
    }

    /// relaxed: lowercase name; unfold; runs of WSP become one SP; no WSP
    /// at the end of the value nor around the colon.
    static func relaxed(name: String, value: some Collection<UInt8>) -> [UInt8] {
        var out = Array(name.utf8)
        out.append(UInt8(ascii: ":"))
        var pendingSpace = false
        var started = false
        for byte in value {
            switch byte {
            case 0x0D, 0x0A:
                continue
            case 0x20, 0x09:
                pendingSpace = started
            default:
                if pendingSpace { out.append(0x20) }
                pendingSpace = false
                started = true
                out.append(byte)
            }
        }
        out += [0x0D, 0x0A]
        return out
    }

    /// The DKIM-Signature field itself as it is signed (§3.7): the b= value
    /// deleted, canonicalised, without the final CRLF.
    static func signatureField(_ field: DKIMHeaderField, _ method: DKIMCanonicalization) -> [UInt8] {
        var bytes = field.bytes
        if let range = signatureValueRange(in: bytes, from: field.colon + 1) {
            bytes.removeSubrange(range)
        }
        guard let emptied = DKIMHeaderField(bytes: bytes) else { return [] }
        return Array(canonicalize(emptied, method).dropLast(2))
    }

    /// The octets of the b= tag's value: after "b=" (at the start of a
    /// tag-spec) up to the next ";" or the final CRLF.
    static func signatureValueRange(in bytes: [UInt8], from start: Int) -> Range<Int>? {
        let end = bytes.count - 2
        var specStart = start
        while specStart < end {
            let specEnd = bytes[specStart..<end].firstIndex(of: UInt8(ascii: ";")) ?? end
            let spec = bytes[specStart..<specEnd]
            if let equals = spec.firstIndex(of: UInt8(ascii: "=")),
               DKIMTagList.trimFWS(spec[..<equals]).elementsEqual([UInt8(ascii: "b")]) {
                return (equals + 1)..<specEnd
            }
            specStart = specEnd + 1
        }
        return nil
    }
}
