import DNSModel
import Foundation
import Policy
import SMTPCore

/// Builders shared by the policy tests.
enum Fixture {
    static func mailbox(_ address: String) -> Mailbox {
        let at = address.lastIndex(of: "@")!
        let domain = String(address[address.index(after: at)...])
        let local = String(address[..<at])
        if domain.hasPrefix("[") { return Mailbox(localPart: local, domain: .literal(String(domain.dropFirst().dropLast()))) }
        return Mailbox(localPart: local, domain: .name(domain))
    }

    static func sender(_ address: String) -> ReversePath {
        address.isEmpty ? .null : .mailbox(mailbox(address))
    }

    static func recipient(_ address: String) -> ForwardPath {
        .mailbox(mailbox(address))
    }

    static func session(_ ip: String, user: String? = nil, helo: String = "client.example") -> SessionFacts {
        SessionFacts(clientIP: IPAddress(ip), helo: helo, tls: false, user: user)
    }

    /// Parses a RCPT line the way the server does, for routing tricks.
    static func path(_ text: String) throws -> ForwardPath {
        guard case .rcpt(let path, _) = try CommandParser.parse(Array("RCPT TO:<\(text)>".utf8)) else {
            throw CocoaError(.formatting)
        }
        return path
    }

    static func describe(_ verdict: PolicyVerdict) -> String {
        switch verdict.decision {
        case .continue: return "continue"
        case .accept: return "accept"
        case .reject(let reply), .tempfail(let reply): return reply.description
        case .quarantine(let reason): return "quarantine: \(reason)"
        case .discard(let reason): return "discard: \(reason)"
        }
    }
}

/// A fixed zone for the SPF filter tests; unknown names are NXDOMAIN.
struct ZoneResolver: DNSResolver {
    var txt: [String: String]
    var failing: Set<String> = []

    func lookup(_ name: DNSName, type: DNSRecordType) async -> DNSLookupResult<DNSRecord> {
        let key = "\(name)".lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        if failing.contains(key) { return .failure(.timedOut) }
        guard type == .txt, let text = txt[key] else { return .void(DNSVoid(kind: .nxdomain, negativeTTL: 60)) }
        return .answer(records: [.txt(TXTRecord(text))], ttl: 60)
    }
}
