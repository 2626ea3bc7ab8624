/// A DMARC policy record as published at `_dmarc.<domain>`
/// ([RFC 7489 §6.3](https://www.rfc-editor.org/rfc/rfc7489#section-6.3)), with `np`
/// from [RFC 9091 §4](https://www.rfc-editor.org/rfc/rfc9091#section-4). Report
/// addresses are kept (for `postern` to show) but no reports are sent.
public struct DMARCRecord: Sendable, Hashable {
    /// `p`, `sp`, `np` values (§6.3).
    public enum Policy: String, Sendable, Hashable {
        case none, quarantine, reject
    }

    /// `adkim` / `aspf` values (§3.1): relaxed compares organisational domains.
    public enum Alignment: String, Sendable, Hashable {
        case relaxed = "r", strict = "s"
    }

    /// `p`: the policy for the domain itself.
    public var policy: Policy
    /// `sp`: for subdomains; nil means as `p`.
    public var subdomainPolicy: Policy?
    /// `np` (RFC 9091): for subdomains that do not exist; nil means as `sp`.
    public var nonexistentPolicy: Policy?
    public var dkimAlignment: Alignment = .relaxed
    public var spfAlignment: Alignment = .relaxed
    /// `pct`: the share of failing messages the policy applies to (0…100).
    public var percent = 100
    /// `rua` / `ruf` URIs, as written.
    public var aggregateReportURIs: [String] = []
    public var failureReportURIs: [String] = []

    public init(policy: Policy) {
        self.policy = policy
    }
}

/// Why a TXT record at `_dmarc.` is not a usable DMARC record.
public enum DMARCRecordError: Error, Sendable, Hashable {
    /// Does not start with `v=DMARC1`: not a DMARC record at all (§6.6.3 step 3).
    case notDMARC
    /// No valid `p` (or an invalid `sp`) and no usable `rua` (§6.6.3 step 6).
    case invalidPolicy(String)
}

extension DMARCRecord {
    /// dmarc-record = dmarc-version dmarc-sep [dmarc-request] … (§6.4). `v` must
    /// come first; unknown tags are ignored; a bad value of an optional tag
    /// falls back to its default (§6.3 "syntax errors … discarded").
    public init(parsing text: String) throws(DMARCRecordError) {
        let pairs = Self.tagValuePairs(text)
        guard let first = pairs.first, first.tag == "v", first.value == "DMARC1" else { throw .notDMARC }
        var tags: [String: String] = [:]
        for pair in pairs.dropFirst() where tags[pair.tag] == nil { tags[pair.tag] = pair.value }
        let rua = Self.uris(tags["rua"])
        var policy = tags["p"].flatMap { Policy(rawValue: $0.lowercased()) }
        let subdomain = tags["sp"].map { Policy(rawValue: $0.lowercased()) }
        if policy == nil || subdomain == .some(nil) {
            // §6.6.3 step 6: with a usable rua the record counts as p=none.
            guard !rua.isEmpty else {
                throw .invalidPolicy(policy == nil ? "missing or invalid p=" : "invalid sp=")
            }
            policy = DMARCRecord.Policy.none
        }
        self.init(policy: policy!)
        subdomainPolicy = subdomain ?? nil
        nonexistentPolicy = tags["np"].flatMap { Policy(rawValue: $0.lowercased()) }
        dkimAlignment = tags["adkim"].flatMap { Alignment(rawValue: $0.lowercased()) } ?? .relaxed
        spfAlignment = tags["aspf"].flatMap { Alignment(rawValue: $0.lowercased()) } ?? .relaxed
        if let pct = tags["pct"], pct.utf8.count <= 3, pct.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
           let value = Int(pct), value <= 100 {
            percent = value
        }
        aggregateReportURIs = rua
        failureReportURIs = Self.uris(tags["ruf"])
    }

    /// tag-list = tag-spec *( ";" tag-spec ) [ ";" ] (RFC 6376 §3.2, used by §6.4);
    /// white space around names and values is dropped, tag names compare
    /// case-sensitively as in DKIM, pairs without "=" are skipped.
    static func tagValuePairs(_ text: String) -> [(tag: String, value: String)] {
        text.split(separator: ";", omittingEmptySubsequences: true).compactMap { spec in
            guard let equals = spec.firstIndex(of: "=") else { return nil }
            let tag = spec[..<equals].trimmingWSP()
            guard !tag.isEmpty else { return nil }
            return (tag, spec[spec.index(after: equals)...].trimmingWSP())
        }
    }

    /// dmarc-uri *(*WSP "," *WSP dmarc-uri) (§6.4): a URI with a scheme, an
    /// optional "!size" suffix kept as written.
    static func uris(_ value: String?) -> [String] {
        guard let value else { return [] }
        return value.split(separator: ",").map { $0.trimmingWSP() }.filter { uri in
            guard let colon = uri.firstIndex(of: ":"), colon != uri.startIndex else { return false }
            return uri[..<colon].unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0)) }
                && uri.index(after: colon) != uri.endIndex
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and line breaks (FWS).
    func trimmingWSP() -> String {
        let scalars = Array(unicodeScalars)
        let isWSP: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let start = scalars.firstIndex(where: { !isWSP($0) }) else { return "" }
        let end = scalars.lastIndex(where: { !isWSP($0) })!
        return String(String.UnicodeScalarView(scalars[start...end]))
    }
}
