import DNSModel
import Foundation

/// A zone in memory, for testing the evaluator without sockets. Names not in the zone
/// are NXDOMAIN; `.timeout` answers every query of a type with no record listed before
/// it with a failure, as the OpenSPF suite's `TIMEOUT` does. Every query is logged.
final class InMemoryResolver: DNSResolver, @unchecked Sendable {
    enum Entry {
        case txt(String)
        case txtStrings([String])
        case a(String)
        case aaaa(String)
        case mx(UInt16, String)
        case ptr(String)
        case timeout
    }

    private let zone: [DNSName: [Entry]]
    private let lock = NSLock()
    private var log: [String] = []

    init(_ zone: [String: [Entry]]) {
        var parsed: [DNSName: [Entry]] = [:]
        for (name, entries) in zone {
            parsed[DNSName(name)!, default: []] += entries
        }
        self.zone = parsed
    }

    /// The queries made so far, as "TYPE name".
    var queries: [String] { lock.withLock { log } }

    func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
        lock.withLock { log.append("\(type) \(name)") }
        guard let entries = zone[name] else { return .void(DNSVoid(kind: .nxdomain, negativeTTL: 300)) }
        var records: [DNSRecord] = []
        for entry in entries {
            if case .timeout = entry {
                if records.isEmpty { return .failure(.timedOut) }
                break
            }
            if let record = Self.record(entry), record.type == type { records.append(record) }
        }
        return records.isEmpty ? .void(DNSVoid(kind: .noData, negativeTTL: 300)) : .answer(records: records, ttl: 300)
    }

    private static func record(_ entry: Entry) -> DNSRecord? {
        switch entry {
        case .txt(let text): return .txt(TXTRecord(text))
        case .txtStrings(let strings): return .txt(TXTRecord(strings: strings.map { Array($0.utf8) }))
        case .a(let text): return IPv4Address(text).map(DNSRecord.a)
        case .aaaa(let text): return IPv6Address(text).map(DNSRecord.aaaa)
        case .mx(let preference, let host): return DNSName(host).map { .mx(MXRecord(preference: preference, exchange: $0)) }
        case .ptr(let host): return DNSName(host).map(DNSRecord.ptr)
        case .timeout: return nil
        }
    }
}
