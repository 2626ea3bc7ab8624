import CLDNS
import DNSModel
import Foundation

/// One ldns resolver aimed at one server. Owned by one worker thread: ldns resolvers
/// are not thread-safe, and every call here blocks.
final class LDNSServerSession {
    let server: DNSServerAddress
    private let resolver: UnsafeMutablePointer<ldns_resolver>?
    private let timeout: Duration
    /// Header flags of each query: RD, and AD when the server validates (RFC 6840
    /// §5.7: a query with AD set asks for the AD bit in the answer, without DO).
    private let flags: UInt16

    init(server: DNSServerAddress, configuration: LDNSResolver.Configuration) {
        self.server = server
        self.timeout = configuration.timeout
        self.flags = UInt16(LDNS_RD) | (configuration.validating ? UInt16(LDNS_AD) : 0)
        let resolver = ldns_resolver_new()
        self.resolver = resolver
        guard let resolver else { return }
        let addressText = server.host.description
        let rdfType = { if case .v4 = server.host { LDNS_RDF_TYPE_A } else { LDNS_RDF_TYPE_AAAA } }()
        if let address = ldns_rdf_new_frm_str(rdfType, addressText) {
            _ = ldns_resolver_push_nameserver(resolver, address)
            ldns_rdf_deep_free(address)
        }
        ldns_resolver_set_port(resolver, server.port)
        ldns_resolver_set_recursive(resolver, 1)
        ldns_resolver_set_random(resolver, 0)
        ldns_resolver_set_dnssec(resolver, 0)
        // Truncated answers are retried over TCP here, not inside ldns, so that it is
        // visible and tested.
        ldns_resolver_set_fallback(resolver, 0)
        ldns_resolver_set_usevc(resolver, 0)
        ldns_resolver_set_retry(resolver, UInt8(clamping: max(1, configuration.attempts)))
        ldns_resolver_set_retrans(resolver, 0)
        let (seconds, attoseconds) = configuration.timeout.components
        ldns_resolver_set_timeout(resolver, timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000)))
        if configuration.ednsUDPSize > 0 {
            ldns_resolver_set_edns_udp_size(resolver, configuration.ednsUDPSize)
        }
    }

    deinit {
        if let resolver { ldns_resolver_deep_free(resolver) }
    }

    /// Sends one query over UDP, and again over TCP when the answer is truncated.
    func query(_ name: DNSName, type: DNSRecordType) -> LDNSReply {
        let first = send(name, type: type, overTCP: false)
        if case .packet(let response) = first, response.truncated {
            return send(name, type: type, overTCP: true)
        }
        return first
    }

    private func send(_ name: DNSName, type: DNSRecordType, overTCP: Bool) -> LDNSReply {
        guard let resolver else { return .failure(.transport("ldns_resolver_new failed")) }
        let wire = name.wireFormat
        guard let owner = wire.withUnsafeBytes({ ldns_dname_new_frm_data(UInt16(wire.count), $0.baseAddress) }) else {
            return .failure(.transport("cannot build the query name \(name)"))
        }
        defer { ldns_rdf_deep_free(owner) }
        ldns_resolver_set_usevc(resolver, overTCP ? 1 : 0)
        var packet: UnsafeMutablePointer<ldns_pkt>?
        let started = ContinuousClock.now
        let status = ldns_resolver_send(
            &packet, resolver, owner, ldns_rr_type(rawValue: UInt32(type.rawValue)), LDNS_RR_CLASS_IN, flags)
        guard status == LDNS_STATUS_OK, let packet else {
            if let packet { ldns_pkt_free(packet) }
            // ldns reports a timeout as a network error; tell the two apart by the time taken.
            if status == LDNS_STATUS_NETWORK_ERR && ContinuousClock.now - started >= timeout {
                return .failure(.timedOut)
            }
            return .failure(.transport(String(cString: ldns_get_errorstr_by_id(status))))
        }
        defer { ldns_pkt_free(packet) }
        return .packet(LDNSResponse(packet))
    }
}

/// What a server sent back, or why nothing usable came.
enum LDNSReply {
    case packet(LDNSResponse)
    case failure(DNSError)
}

/// The parts of a response packet Postern reads, copied out of ldns memory.
struct LDNSResponse {
    var rcode: UInt8
    var truncated: Bool
    /// The AD bit: the server says it validated the answer (RFC 4035 §3.2.3).
    var authenticated: Bool
    var answers: [ResourceRecord]
    var authority: [ResourceRecord]

    /// A record of any type: owner, type, TTL and the RDATA fields as raw bytes.
    struct ResourceRecord {
        var owner: DNSName
        var type: UInt16
        var ttl: UInt32
        var fields: [[UInt8]]
    }

    init(rcode: UInt8, truncated: Bool, authenticated: Bool = false, answers: [ResourceRecord],
         authority: [ResourceRecord]) {
        self.rcode = rcode
        self.truncated = truncated
        self.authenticated = authenticated
        self.answers = answers
        self.authority = authority
    }

    init(_ packet: UnsafeMutablePointer<ldns_pkt>) {
        rcode = UInt8(truncatingIfNeeded: ldns_pkt_get_rcode(packet).rawValue)
        truncated = ldns_pkt_tc(packet) != 0
        authenticated = ldns_pkt_ad(packet) != 0
        answers = Self.records(ldns_pkt_answer(packet))
        authority = Self.records(ldns_pkt_authority(packet))
    }

    private static func records(_ list: UnsafeMutablePointer<ldns_rr_list>?) -> [ResourceRecord] {
        guard let list else { return [] }
        return (0..<ldns_rr_list_rr_count(list)).compactMap { index in
            guard let rr = ldns_rr_list_rr(list, index) else { return nil }
            let fields = (0..<ldns_rr_rd_count(rr)).map { field in bytes(of: ldns_rr_rdf(rr, field)) }
            guard let owner = dname(bytes(of: ldns_rr_owner(rr))) else { return nil }
            return ResourceRecord(
                owner: owner, type: UInt16(truncatingIfNeeded: ldns_rr_get_type(rr).rawValue),
                ttl: ldns_rr_ttl(rr), fields: fields)
        }
    }

    private static func bytes(of rdf: UnsafeMutablePointer<ldns_rdf>?) -> [UInt8] {
        guard let rdf, let data = ldns_rdf_data(rdf) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: ldns_rdf_size(rdf)))
    }

    /// Reads an uncompressed wire-format name (ldns has already expanded pointers).
    static func dname(_ wire: [UInt8]) -> DNSName? {
        var labels: [[UInt8]] = []
        var index = 0
        while index < wire.count {
            let length = Int(wire[index])
            if length == 0 { return DNSName(labels: labels) }
            guard length <= 63, index + 1 + length <= wire.count else { return nil }
            labels.append(Array(wire[(index + 1)...(index + length)]))
            index += 1 + length
        }
        return labels.isEmpty ? .root : nil
    }
}
