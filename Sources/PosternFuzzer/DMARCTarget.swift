// DMARC records (RFC 7489 §6.4) as a _dmarc TXT answer carries them, the
// RFC 5322.From domain (§6.6.1) and Authentication-Results values (RFC 8601)
// built from what a message or client sent. Invariants:
// - a record that parses has pct in 0...100 and parses the same again;
// - an author domain, when one is found, is lowercased, has no "@", white
//   space or control characters, and is at most 253 octets;
// - its organisational domain is a suffix of it (label-wise);
// - an Authentication-Results value built with the input as every
//   client-supplied part holds exactly one ";" per method outside quoted
//   strings and comments, and no control characters: the input cannot add
//   results of its own.
import DMARC

enum DMARCTarget {
    static let suffixes = PublicSuffixList(text: "com\nco.uk\n*.kobe.jp\n!city.kobe.jp\n")

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let record = try? DMARCRecord(parsing: text) {
            invariant((0...100).contains(record.percent), "pct \(record.percent) out of range")
            invariant((try? DMARCRecord(parsing: text)) == record, "the same record parsed twice differs")
        }
        if case .success(let domain) = AuthorDomain.extract(fromValue: text) {
            invariant(domain == domain.lowercased() && domain.utf8.count <= 253, "author domain \"\(domain)\" not normalised")
            invariant(!domain.unicodeScalars.contains { $0 == "@" || $0.value <= 0x20 || $0.value == 0x7F },
                      "author domain \"\(domain)\" holds a forbidden character")
            let organisational = suffixes.organisationalDomain(of: domain)
            invariant(domain == organisational || domain.hasSuffix("." + organisational),
                      "organisational domain \"\(organisational)\" is not a suffix of \"\(domain)\"")
        }
        checkAuthenticationResults(text)
    }

    static func checkAuthenticationResults(_ text: String) {
        var dmarc = DMARCResult(verdict: .permerror, fromDomain: text, reason: text)
        dmarc.reason = text
        let field = AuthenticationResults(authservID: text, methods: [
            .init(name: "spf", result: "pass", properties: [.init("smtp.mailfrom", text)]),
            .init(name: "dkim", result: "fail", comment: text, reason: text, properties: [.init("header.d", text), .init("header.b", text)]),
            .dmarc(dmarc),
        ])
        let value = field.value
        invariant(!value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "control character in \"\(value)\"")
        invariant(separators(value) == 3, "\"\(value)\" does not hold 3 result separators")
    }

    /// ";" outside quoted strings and comments.
    static func separators(_ value: String) -> Int {
        var count = 0, depth = 0, quoted = false, escaped = false
        for scalar in value.unicodeScalars {
            if escaped { escaped = false; continue }
            if scalar == "\\" && (quoted || depth > 0) { escaped = true; continue }
            if quoted { if scalar == "\"" { quoted = false }; continue }
            switch scalar {
            case "\"" where depth == 0: quoted = true
            case "(": depth += 1
            case ")": depth = max(0, depth - 1)
            case ";" where depth == 0: count += 1
            default: break
            }
        }
        return count
    }
}
