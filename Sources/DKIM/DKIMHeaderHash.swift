@preconcurrency import Crypto

/// The header hash (RFC 6376 §3.7): the signed fields in h= order, then the
/// DKIM-Signature field with b= emptied.
enum DKIMHeaderHash {
    /// The instances h= names, picked from the bottom up (§5.4.2): the n-th
    /// mention of a name takes its n-th instance counted from the last. A
    /// name mentioned more often than it occurs selects nothing (so no field
    /// of that name can be added later without breaking the signature).
    static func select(_ names: [String], from fields: [DKIMHeaderField]) -> [DKIMHeaderField] {
        var used: [String: Int] = [:]
        var selected: [DKIMHeaderField] = []
        for name in names {
            let key = name.lowercased()
            let skip = used[key, default: 0]
            used[key] = skip + 1
            let instances = fields.lazy.reversed().filter { $0.lowercasedName == key }
            if let field = instances.dropFirst(skip).first { selected.append(field) }
        }
        return selected
    }

    static func digest(signed names: [String], fields: [DKIMHeaderField], signatureField: DKIMHeaderField,
                       canonicalization: DKIMCanonicalization) -> SHA256.Digest {
        var hash = SHA256()
        for field in select(names, from: fields) {
            hash.update(data: DKIMHeaderCanonicalizer.canonicalize(field, canonicalization))
        }
        hash.update(data: DKIMHeaderCanonicalizer.signatureField(signatureField, canonicalization))
        return hash.finalize()
    }
}
