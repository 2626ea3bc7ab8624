// DNS answers as they come off the wire: libldns reads the packet
// (ldns_wire2pkt, what ldns_resolver_send does with a reply), then our code
// copies it out (LDNSResponse) and turns it into records
// (LDNSResponseReader) for every record type Postern asks for. libldns is a
// system library, not instrumented: coverage guides the Swift side, while
// AddressSanitizer still watches the memory ldns hands over. Invariants:
// - an answer holds records of the type asked, with a TTL that one of them had;
// - a restart names a CNAME target other than the name asked;
// - a negative TTL is no longer than the SOA record's own TTL;
// - every owner name survives a trip through its wire form.
import CLDNS
import DNSModel
@testable import DNS

enum DNSTarget {
    static let fallbackName = DNSName("example.com")!

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var packet: UnsafeMutablePointer<ldns_pkt>?
        let status = ldns_wire2pkt(&packet, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        guard status == LDNS_STATUS_OK, let packet else {
            if let packet { ldns_pkt_free(packet) }
            return
        }
        defer { ldns_pkt_free(packet) }
        let response = LDNSResponse(packet)
        for record in response.answers + response.authority {
            invariant(LDNSResponse.dname(record.owner.wireFormat) == record.owner, "owner \(record.owner) changes on the wire")
        }
        let name = questionName(packet) ?? fallbackName
        for type in DNSRecordType.allCases {
            check(LDNSResponseReader.read(response, name: name, type: type), response: response, name: name, type: type)
        }
    }

    static func check(_ reading: LDNSResponseReader.Reading, response: LDNSResponse, name: DNSName, type: DNSRecordType) {
        switch reading {
        case .result(.answer(let records, let ttl)):
            invariant(!records.isEmpty, "\(type) answer without records")
            invariant(records.allSatisfy { $0.type == type }, "\(type) answer holds \(records.map(\.type))")
            invariant(response.answers.contains { $0.type == type.rawValue && $0.ttl == ttl }, "\(type) TTL \(ttl) from no record")
            for case .txt(let txt) in records {
                invariant(txt.strings.allSatisfy { $0.count <= 255 }, "TXT string over 255 octets")
            }
        case .result(.void(let void)):
            if let negativeTTL = void.negativeTTL {
                let soaTTLs = response.authority.filter { $0.type == LDNSResponseReader.soaType }.map(\.ttl)
                invariant(soaTTLs.contains { negativeTTL <= $0 }, "negative TTL \(negativeTTL) beyond the SOA's \(soaTTLs)")
            }
        case .result(.failure):
            break
        case .restart(let target):
            invariant(target != name, "restart at the name asked, \(name)")
            let targets = response.answers.filter { $0.type == LDNSResponseReader.cnameType }
                .compactMap { $0.fields.first.flatMap(LDNSResponse.dname) }
            invariant(targets.contains(target), "restart at \(target), which no CNAME names")
        }
    }

    /// The owner of the first question, the name a resolver would have asked.
    static func questionName(_ packet: UnsafeMutablePointer<ldns_pkt>) -> DNSName? {
        guard let questions = ldns_pkt_question(packet), ldns_rr_list_rr_count(questions) > 0,
              let question = ldns_rr_list_rr(questions, 0), let owner = ldns_rr_owner(question),
              let data = ldns_rdf_data(owner) else { return nil }
        return LDNSResponse.dname(Array(UnsafeBufferPointer(start: data, count: ldns_rdf_size(owner))))
    }
}
