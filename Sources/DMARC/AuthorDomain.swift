import MailMessage

/// The RFC 5322.From domain DMARC evaluates
/// ([RFC 7489 §6.6.1](https://www.rfc-editor.org/rfc/rfc7489#section-6.6.1)).
public enum AuthorDomain {
    /// Why a message has no single author domain. §6.6.1 leaves receivers to
    /// reject such messages; Postern reports them as `dmarc=permerror`.
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case noFromField
        case severalFromFields(Int)
        /// No address with a usable domain (empty group, domain literal, junk).
        case noDomain
        /// Several authors in different domains.
        case severalDomains([String])

        public var description: String {
            switch self {
            case .noFromField: return "no From field"
            case .severalFromFields(let count): return "\(count) From fields"
            case .noDomain: return "no domain in From"
            case .severalDomains(let domains): return "From holds several domains (\(domains.joined(separator: ", ")))"
            }
        }
    }

    /// The one domain of the header's From field, lowercased. Several
    /// mailboxes of the same domain are one author domain.
    public static func extract(from headers: HeaderSection) -> Result<String, Failure> {
        let fields = headers.all("From")
        guard let field = fields.first else { return .failure(.noFromField) }
        guard fields.count == 1 else { return .failure(.severalFromFields(fields.count)) }
        return extract(fromValue: field.value)
    }

    public static func extract(fromValue value: String) -> Result<String, Failure> {
        var domains: [String] = []
        for spec in addrSpecs(in: value) {
            guard let domain = domain(ofAddrSpec: spec) else { return .failure(.noDomain) }
            if !domains.contains(domain) { domains.append(domain) }
        }
        guard let first = domains.first else { return .failure(.noDomain) }
        return domains.count == 1 ? .success(first) : .failure(.severalDomains(domains))
    }

    /// The addr-specs of a mailbox-list / address-list (RFC 5322 §3.4), with
    /// comments and display names dropped: "<…>" when there is one, else the
    /// mailbox's own text; group names ("name:") and their ";" are skipped.
    static func addrSpecs(in value: String) -> [String] {
        var specs: [String] = []
        var current = String.UnicodeScalarView()   // the mailbox text outside comments
        var angle: String.UnicodeScalarView?       // inside "<…>"
        var lastAngle: String?
        var quoted = false, escaped = false, depth = 0
        func finish() {
            let text = lastAngle ?? String(current).trimmingWSP()
            if !text.isEmpty { specs.append(text) }
            current = String.UnicodeScalarView(); lastAngle = nil; angle = nil
        }
        for scalar in value.unicodeScalars {
            if escaped { escaped = false; append(scalar, &current, &angle); continue }
            if scalar == "\\", quoted || depth > 0 { escaped = true; if quoted { append(scalar, &current, &angle) }; continue }
            if depth > 0 {
                if scalar == "(" { depth += 1 } else if scalar == ")" { depth -= 1 }
                continue
            }
            if quoted { append(scalar, &current, &angle); if scalar == "\"" { quoted = false }; continue }
            switch scalar {
            case "\"": quoted = true; append(scalar, &current, &angle)
            case "(": depth = 1
            case "<": angle = String.UnicodeScalarView()
            case ">": lastAngle = angle.map { String($0).trimmingWSP() }; angle = nil
            case ":" where angle == nil: current = String.UnicodeScalarView()   // a group's display name
            case ",", ";": if angle == nil { finish() } else { append(scalar, &current, &angle) }
            default: append(scalar, &current, &angle)
            }
        }
        finish()
        return specs
    }

    private static func append(_ scalar: Unicode.Scalar, _ current: inout String.UnicodeScalarView,
                               _ angle: inout String.UnicodeScalarView?) {
        if angle != nil { angle!.append(scalar) } else { current.append(scalar) }
    }

    /// The domain after the last "@" of an addr-spec (an obsolete source
    /// route "@a,@b:" before it is dropped by taking the last "@"), checked to
    /// be a host name: a domain literal or a name with bad labels has none.
    static func domain(ofAddrSpec spec: String) -> String? {
        guard let at = spec.lastIndex(of: "@") else { return nil }
        var domain = spec[spec.index(after: at)...].trimmingWSP().lowercased()
        if domain.hasSuffix(".") { domain.removeLast() }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard domain.utf8.count <= 253, labels.count >= 1, !domain.isEmpty else { return nil }
        for label in labels {
            guard (1...63).contains(label.utf8.count), !label.hasPrefix("-"), !label.hasSuffix("-") else { return nil }
            for scalar in label.unicodeScalars {
                let allowed = ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_"
                    || scalar.value > 0x7F   // internationalised names (RFC 6532) as sent
                guard allowed else { return nil }
            }
        }
        return domain
    }
}
