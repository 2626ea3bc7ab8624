import DNSModel

/// Parses SPF records ([RFC 7208 §4.5, §4.6.1, §5, §6](https://www.rfc-editor.org/rfc/rfc7208#section-4.6.1)).
/// The whole record is parsed before evaluation starts, so a syntax error anywhere is a
/// permerror even when an earlier mechanism would have matched (§4.6).
enum SPFRecordParser {
    /// `version = "v=spf1"`, case-insensitive, followed by a space or the end (§4.5).
    static func isSPFRecord(_ text: [UInt8]) -> Bool {
        let version = Array("v=spf1".utf8)
        guard text.count >= version.count,
              zip(text, version).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 })
        else { return false }
        return text.count == version.count || text[version.count] == UInt8(ascii: " ")
    }

    // record = version terms *SP
    // terms  = *( 1*SP ( directive / modifier ) )
    static func parse(_ bytes: [UInt8]) throws(SPFSyntaxError) -> SPFRecord {
        guard isSPFRecord(bytes) else { throw SPFSyntaxError(message: "not an SPF record") }
        if let byte = bytes.first(where: { $0 >= 0x80 }) {
            throw SPFSyntaxError(message: "non-ASCII octet 0x\(String(byte, radix: 16)) in record")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        var record = SPFRecord()
        for term in text.split(separator: " ").dropFirst() {
            try parseTerm(term, into: &record)
        }
        return record
    }

    private static func parseTerm(_ term: Substring, into record: inout SPFRecord) throws(SPFSyntaxError) {
        do {
            if let equals = term.firstIndex(of: "="), isModifierName(term[..<equals]) {
                try parseModifier(name: term[..<equals].lowercased(), value: term[term.index(after: equals)...], into: &record)
            } else {
                record.directives.append(try parseDirective(term))
            }
        } catch let error as MacroSyntaxError {
            throw SPFSyntaxError(message: "'\(term)': \(error.message)")
        } catch let error as SPFSyntaxError {
            throw error
        } catch {
            throw SPFSyntaxError(message: "'\(term)': \(error)")
        }
    }

    // modifier = redirect / explanation / unknown-modifier
    // redirect = "redirect" "=" domain-spec ; explanation = "exp" "=" domain-spec
    // unknown-modifier = name "=" macro-string
    private static func parseModifier(name: String, value: Substring, into record: inout SPFRecord) throws {
        switch name {
        case "redirect":
            guard record.redirect == nil else { throw SPFSyntaxError(message: "redirect= given twice") }
            record.redirect = try DomainSpec.parse(String(value))
        case "exp":
            guard record.explanation == nil else { throw SPFSyntaxError(message: "exp= given twice") }
            record.explanation = try DomainSpec.parse(String(value))
        default:
            _ = try MacroString.parse(String(value), kind: .modifierValue)
        }
    }

    // name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
    private static func isModifierName(_ name: Substring) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCIILetter || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)
        }
    }

    // directive = [ qualifier ] mechanism
    private static func parseDirective(_ term: Substring) throws -> SPFDirective {
        var rest = term
        var qualifier = SPFQualifier.pass
        if let first = rest.first, let explicit = SPFQualifier(rawValue: first) {
            qualifier = explicit
            rest = rest.dropFirst()
        }
        let nameEnd = rest.firstIndex { $0 == ":" || $0 == "/" } ?? rest.endIndex
        let name = rest[..<nameEnd].lowercased()
        let argument = rest[nameEnd...]
        let mechanism: SPFMechanism
        switch name {
        case "all":
            guard argument.isEmpty else { throw SPFSyntaxError(message: "'all' takes no argument") }
            mechanism = .all
        case "include":
            mechanism = .include(try requiredDomainSpec(argument, of: name))
        case "exists":
            mechanism = .exists(try requiredDomainSpec(argument, of: name))
        case "a":
            let (target, cidr) = try parseTargetAndCIDR(argument)
            mechanism = .a(target, cidr)
        case "mx":
            let (target, cidr) = try parseTargetAndCIDR(argument)
            mechanism = .mx(target, cidr)
        case "ptr":
            mechanism = .ptr(argument.isEmpty ? nil : try requiredDomainSpec(argument, of: name))
        case "ip4":
            let (network, length) = try parseNetwork(argument, maximumLength: 32) { IPv4Address($0) }
            mechanism = .ip4(network, prefixLength: length ?? 32)
        case "ip6":
            let (network, length) = try parseNetwork(argument, maximumLength: 128) { IPv6Address($0) }
            mechanism = .ip6(network, prefixLength: length ?? 128)
        default:
            throw SPFSyntaxError(message: "unknown mechanism '\(name)'")
        }
        return SPFDirective(qualifier: qualifier, mechanism: mechanism, text: String(term))
    }

    /// `":" domain-spec`, required.
    private static func requiredDomainSpec(_ argument: Substring, of name: String) throws -> MacroString {
        guard argument.first == ":" else { throw SPFSyntaxError(message: "'\(name)' needs ':' and a domain") }
        return try DomainSpec.parse(String(argument.dropFirst()))
    }

    // a  = "a"  [ ":" domain-spec ] [ dual-cidr-length ]
    // mx = "mx" [ ":" domain-spec ] [ dual-cidr-length ]
    private static func parseTargetAndCIDR(_ argument: Substring) throws -> (MacroString?, DualCIDRLength) {
        var body = argument
        var cidr = DualCIDRLength()
        if let (digits, isIPv6) = stripTrailingLength(&body) {
            if isIPv6 {
                cidr.ipv6 = try prefixLength(digits, maximum: 128)
                if let (ipv4Digits, twice) = stripTrailingLength(&body) {
                    guard !twice else { throw SPFSyntaxError(message: "two IPv6 prefix lengths") }
                    cidr.ipv4 = try prefixLength(ipv4Digits, maximum: 32)
                }
            } else {
                cidr.ipv4 = try prefixLength(digits, maximum: 32)
            }
        }
        if body.isEmpty { return (nil, cidr) }
        guard body.first == ":" else { throw SPFSyntaxError(message: "unexpected '\(body)'") }
        return (try DomainSpec.parse(String(body.dropFirst())), cidr)
    }

    /// Removes a trailing `/DIGITS` (or `//DIGITS`, then `isIPv6` is true) from `text`.
    private static func stripTrailingLength(_ text: inout Substring) -> (Substring, isIPv6: Bool)? {
        guard let slash = text.lastIndex(where: { !$0.isASCIIDigit }), text[slash] == "/",
              text.index(after: slash) < text.endIndex
        else { return nil }
        let digits = text[text.index(after: slash)...]
        let before = text[..<slash]
        if before.hasSuffix("/") {
            text = before.dropLast()
            return (digits, true)
        }
        text = before
        return (digits, false)
    }

    // ip4-cidr-length = "/" ( "0" / %x31-39 0*1DIGIT ) ; 0-32
    // ip6-cidr-length = "/" ( "0" / %x31-39 0*2DIGIT ) ; 0-128
    private static func prefixLength(_ digits: Substring, maximum: Int) throws -> Int {
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), digits == "0" || digits.first != "0",
              digits.count <= 3, let value = Int(digits), value <= maximum
        else { throw SPFSyntaxError(message: "bad prefix length '/\(digits)'") }
        return value
    }

    // ip4 = "ip4" ":" ip4-network [ ip4-cidr-length ]
    // ip6 = "ip6" ":" ip6-network [ ip6-cidr-length ]
    private static func parseNetwork<Address>(
        _ argument: Substring, maximumLength: Int, parse: (Substring) -> Address?
    ) throws -> (Address, Int?) {
        guard argument.first == ":" else { throw SPFSyntaxError(message: "missing ':' and network") }
        let body = argument.dropFirst()
        let slash = body.firstIndex(of: "/") ?? body.endIndex
        guard let network = parse(body[..<slash]) else { throw SPFSyntaxError(message: "bad network '\(body[..<slash])'") }
        guard slash < body.endIndex else { return (network, nil) }
        return (network, try prefixLength(body[body.index(after: slash)...], maximum: maximumLength))
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

private extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
