/// The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1): it says a policy
/// exists and names its version (`id`), so a changed id means "fetch again".
public struct MTASTSRecord: Sendable, Hashable, CustomStringConvertible {
    /// 1*32(ALPHA / DIGIT)
    public var id: String
    /// Other `key=value` fields (§3.1: senders ignore them).
    public var extensions: [String: String]

    public init(id: String, extensions: [String: String] = [:]) {
        self.id = id
        self.extensions = extensions
    }

    public var description: String { "v=STSv1; id=\(id)" }
}

/// Why `_mta-sts` TXT records give no usable record.
public enum MTASTSRecordError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No TXT record starts with `v=STSv1` (the domain has no policy).
    case noRecord
    /// §3.1: more than one `v=STSv1` record: as if there were none.
    case multipleRecords(Int)
    case syntax(String)

    public var description: String {
        switch self {
        case .noRecord: return "no v=STSv1 TXT record"
        case .multipleRecords(let count): return "\(count) v=STSv1 TXT records (exactly one is needed)"
        case .syntax(let detail): return "invalid TXT record: \(detail)"
        }
    }
}

extension MTASTSRecord {
    /// Picks the one record among a name's TXT strings (§3.1: those not
    /// starting with "v=STSv1;" are discarded; not exactly one left: no policy).
    public static func select(_ texts: [String]) throws(MTASTSRecordError) -> MTASTSRecord {
        let candidates = texts.filter { $0.hasPrefix("v=STSv1;") || $0 == "v=STSv1" }
        guard !candidates.isEmpty else { throw .noRecord }
        guard candidates.count == 1 else { throw .multipleRecords(candidates.count) }
        return try parse(candidates[0])
    }

    /// sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
    /// sts-field-delim = *WSP ";" *WSP
    /// sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
    /// sts-extension   = sts-ext-name "=" sts-ext-value
    public static func parse(_ text: String) throws(MTASTSRecordError) -> MTASTSRecord {
        var fields = text.split(separator: ";", omittingEmptySubsequences: false).map { $0.trimmingWSP }
        if fields.count > 1, fields.last == "" { fields.removeLast() } // trailing delimiter
        guard fields.first == "v=STSv1" else { throw .syntax("must start with v=STSv1") }
        var id: String?
        var extensions: [String: String] = [:]
        for field in fields.dropFirst() {
            guard let equals = field.firstIndex(of: "=") else { throw .syntax("field '\(field)' has no '='") }
            let name = String(field[..<equals])
            let value = String(field[field.index(after: equals)...])
            if name == "id" {
                guard id == nil else { throw .syntax("id given twice") }
                guard (1...32).contains(value.utf8.count), value.utf8.allSatisfy(\.isASCIIAlphanumeric) else {
                    throw .syntax("id must be 1 to 32 letters or digits")
                }
                id = value
            } else {
                guard isExtensionName(name) else { throw .syntax("bad field name '\(name)'") }
                // sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
                guard !value.isEmpty, value.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != 0x3B && $0 != 0x3D }) else {
                    throw .syntax("bad value for '\(name)'")
                }
                extensions[name] = value
            }
        }
        guard let id else { throw .syntax("no id field") }
        return MTASTSRecord(id: id, extensions: extensions)
    }

    /// sts-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
    private static func isExtensionName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, first.isASCIIAlphanumeric, bytes.count <= 32 else { return false }
        return bytes.dropFirst().allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }
}

extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (ABNF WSP).
    var trimmingWSP: String {
        let scalars = String(self).unicodeScalars
        guard let start = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let end = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return String(String.UnicodeScalarView(scalars[start...end]))
    }
}
