import DNSModel

/// TXT records in memory for the verifier: names not listed are NXDOMAIN,
/// `failing` names time out.
struct TXTZone: DNSResolver {
    var records: [String: [String]]
    var failing: Set<String> = []

    func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
        let key = name.description.lowercased().trimmingSuffix(".")
        if failing.contains(key) { return .failure(.timedOut) }
        guard type == .txt, let texts = records[key] else { return .void(DNSVoid(kind: .nxdomain, negativeTTL: 60)) }
        return .answer(records: texts.map { .txt(TXTRecord($0)) }, ttl: 60)
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }

    /// The text with LF line ends made CRLF.
    var crlf: [UInt8] { Array(replacingOccurrences(of: "\n", with: "\r\n").utf8) }
}

import Foundation
