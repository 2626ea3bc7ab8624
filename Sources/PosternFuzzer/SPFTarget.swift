// SPF records (RFC 7208 §4.5–§6) and macro strings (§7) as a DNS TXT
// answer carries them. Invariants:
// - a record that parses, written back from its parsed form, parses to the
//   same directives and modifiers;
// - every macro string it holds expands, and the name to query made of it
//   is a valid DNS name within the length limit; URL-escaped expansions
//   hold only unreserved characters and %XX;
// - the same text read as an explanation (the TXT record `exp=` names)
//   parses or fails without trapping, and expands.
import DNSModel
@testable import SPF

enum SPFTarget {
    static let contexts: [MacroContext] = [
        IPAddress.v4(IPv4Address("192.0.2.3")!), IPAddress.v6(IPv6Address("2001:db8::cb01")!),
    ].map { ip in
        MacroContext(sender: SPFSender(address: "strong-bad@email.example.com"), domain: "email.example.com",
                     ip: ip, helo: "mx.example.org", receivingHost: "relay.example.net", timestamp: 1_764_277_000)
    }

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let record = Array(bytes)
        if let parsed = try? SPFRecordParser.parse(record) {
            let written = write(parsed)
            let reparsed: SPFRecord
            do {
                reparsed = try SPFRecordParser.parse(Array(written.utf8))
            } catch {
                invariant(false, "written record \"\(written)\" does not parse: \(error.message)")
                return
            }
            invariant(meaning(reparsed) == meaning(parsed), "\"\(written)\" parses to another record")
            for string in macroStrings(parsed) {
                checkExpansion(string)
            }
        }
        let text = String(decoding: record, as: UTF8.self)
        if let explanation = try? MacroString.parse(text, kind: .explanation) {
            for context in contexts {
                _ = MacroExpander.expand(explanation, in: context)
            }
        }
    }

    static func checkExpansion(_ string: MacroString) {
        for context in contexts {
            let expanded = MacroExpander.expand(string, in: context)
            if let name = DomainSpec.targetName(fromExpanded: expanded, limit: SPFLimits.rfc7208.domainLength) {
                invariant(name.description.utf8.count <= SPFLimits.rfc7208.domainLength, "target \(name) too long")
                invariant(name.wireFormat.count <= DNSName.maximumWireLength, "target \(name) too long on the wire")
            }
            for case .expansion(let macro) in string.tokens where macro.urlEscaped {
                let escaped = MacroExpander.expand(macro, in: context)
                invariant(escaped.utf8.allSatisfy { isUnreserved($0) || $0 == UInt8(ascii: "%") },
                          "URL-escaped %{\(macro.letter.rawValue)} gave \(escaped)")
            }
        }
    }

    /// What evaluation depends on: directives without the text they were
    /// written as, and the two modifiers.
    static func meaning(_ record: SPFRecord) -> SPFRecord {
        var record = record
        for index in record.directives.indices { record.directives[index].text = "" }
        return record
    }

    static func macroStrings(_ record: SPFRecord) -> [MacroString] {
        var strings = [record.redirect, record.explanation].compactMap { $0 }
        for directive in record.directives {
            switch directive.mechanism {
            case .include(let spec), .exists(let spec): strings.append(spec)
            case .a(let spec, _), .mx(let spec, _), .ptr(let spec): strings += [spec].compactMap { $0 }
            case .all, .ip4, .ip6: break
            }
        }
        return strings
    }

    // MARK: Writing a record from its parsed form

    static func write(_ record: SPFRecord) -> String {
        var terms = ["v=spf1"]
        terms += record.directives.map { $0.qualifier.rawValue.description + write($0.mechanism) }
        if let redirect = record.redirect { terms.append("redirect=" + write(redirect)) }
        if let explanation = record.explanation { terms.append("exp=" + write(explanation)) }
        return terms.joined(separator: " ")
    }

    static func write(_ mechanism: SPFMechanism) -> String {
        switch mechanism {
        case .all: return "all"
        case .include(let spec): return "include:" + write(spec)
        case .exists(let spec): return "exists:" + write(spec)
        case .a(let spec, let cidr): return "a" + (spec.map { ":" + write($0) } ?? "") + write(cidr)
        case .mx(let spec, let cidr): return "mx" + (spec.map { ":" + write($0) } ?? "") + write(cidr)
        case .ptr(let spec): return "ptr" + (spec.map { ":" + write($0) } ?? "")
        case .ip4(let network, let length): return "ip4:\(network)/\(length)"
        case .ip6(let network, let length): return "ip6:\(network)/\(length)"
        }
    }

    static func write(_ cidr: DualCIDRLength) -> String {
        (cidr.ipv4 == 32 ? "" : "/\(cidr.ipv4)") + (cidr.ipv6 == 128 ? "" : "//\(cidr.ipv6)")
    }

    static func write(_ string: MacroString) -> String {
        string.tokens.map { token in
            switch token {
            case .literal(let text): return text
            case .escape(let text): return ["%": "%%", " ": "%_", "%20": "%-"][text] ?? text
            case .expansion(let macro):
                let letter = String(macro.letter.rawValue)
                return "%{" + (macro.urlEscaped ? letter.uppercased() : letter)
                    + (macro.rightmostParts.map(String.init) ?? "") + (macro.reversed ? "r" : "")
                    + String(macro.delimiters) + "}"
            }
        }.joined()
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
