import Foundation
import MailMessage

/// A `[headers]` entry that cannot be used: a regular expression that does
/// not compile, a field name that is not one (RFC 5322 §3.6.8), or a
/// masquerade domain that is empty. The config loader reports it as is.
public struct HeaderRuleError: Error, Equatable, CustomStringConvertible {
    /// The setting, e.g. "headers.remove" or "headers.replace".
    public var setting: String
    /// The offending entry as written in the policy file.
    public var entry: String
    public var reason: String

    public init(setting: String, entry: String, reason: String) {
        self.setting = setting
        self.entry = entry
        self.reason = reason
    }

    public var description: String { "\(setting): \"\(entry)\": \(reason)" }
}

/// Applies `[headers]` rules to a header section on the way through: strip
/// Received, remove, replace, masquerade, add — in that order. Fields no
/// rule touches keep their raw bytes, so DKIM signatures over them still
/// verify (RFC 6376 §3.4.1); the body is never seen (STYLE habit 7).
///
/// `Regex` is not `Sendable`, so only validated pattern text is stored and
/// each `rewrite` compiles the few patterns it needs once per message.
public struct HeaderRewriter: Sendable {
    public let rules: HeaderRules
    /// Lowercased exact names from `rules.remove`.
    private let removedNames: Set<String>
    /// The "/regex/" entries of `rules.remove`, without the slashes.
    private let removedPatterns: [String]
    /// `rules.add`, ready to append.
    private let addedFields: [HeaderField]
    let masqueradeRule: MasqueradeRule?

    /// Fields whose addresses `masquerade` rewrites (RFC 5322 §3.6.2).
    static let originatorFields = ["From", "Sender", "Reply-To"]
    /// Longest line we fold to where white space allows (RFC 5322 §2.1.1).
    static let preferredLineLength = 78

    public init(rules: HeaderRules) throws(HeaderRuleError) {
        self.rules = rules
        var names: Set<String> = []
        var patterns: [String] = []
        for entry in rules.remove {
            if entry.count >= 2, entry.hasPrefix("/"), entry.hasSuffix("/") {
                let pattern = String(entry.dropFirst().dropLast())
                guard !pattern.isEmpty else {
                    throw HeaderRuleError(setting: "headers.remove", entry: entry, reason: "empty regular expression")
                }
                _ = try Self.compile(pattern, ignoringCase: true, setting: "headers.remove", entry: entry)
                patterns.append(pattern)
            } else {
                guard Self.isFieldName(entry) else {
                    throw HeaderRuleError(setting: "headers.remove", entry: entry, reason: "not a header field name")
                }
                names.insert(entry.lowercased())
            }
        }
        for rule in rules.replace {
            guard Self.isFieldName(rule.name) else {
                throw HeaderRuleError(setting: "headers.replace", entry: rule.name, reason: "not a header field name")
            }
            _ = try Self.compile(rule.pattern, ignoringCase: false, setting: "headers.replace", entry: rule.pattern)
        }
        var added: [HeaderField] = []
        for entry in rules.add {
            guard let colon = entry.firstIndex(of: ":"), Self.isFieldName(String(entry[..<colon])),
                  !entry.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
                throw HeaderRuleError(setting: "headers.add", entry: entry, reason: "expected \"Name: value\"")
            }
            let value = String(entry[entry.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            added.append(Self.makeField(name: String(entry[..<colon]), value: value))
        }
        removedNames = names
        removedPatterns = patterns
        addedFields = added
        masqueradeRule = try rules.masquerade.map { masquerade throws(HeaderRuleError) in
            try MasqueradeRule(masquerade)
        }
    }

    // MARK: Rewriting

    /// The header section after every rule has been applied.
    public func rewrite(_ headers: HeaderSection) -> HeaderSection {
        guard !rules.isEmpty else { return headers }
        var fields = headers.fields
        if rules.stripReceived {
            fields.removeAll { $0.hasName("Received") }
        }
        if !removedNames.isEmpty || !removedPatterns.isEmpty {
            let regexes = removedPatterns.compactMap { try? Regex($0).ignoresCase() }
            fields.removeAll { field in
                removedNames.contains(field.name.lowercased())
                    || regexes.contains { (try? $0.firstMatch(in: field.name)) != nil }
            }
        }
        for rule in rules.replace {
            guard let regex = try? Regex(rule.pattern) else { continue }
            for index in fields.indices where fields[index].hasName(rule.name) {
                if let changed = Self.replacing(fields[index], regex: regex, template: rule.replacement) {
                    fields[index] = changed
                }
            }
        }
        if let masqueradeRule {
            for index in fields.indices where Self.originatorFields.contains(where: fields[index].hasName) {
                if let rawValue = masqueradeRule.rewriting(fieldValue: fields[index].rawValue) {
                    fields[index].rawValue = rawValue
                }
            }
        }
        fields += addedFields
        return HeaderSection(fields: fields)
    }

    /// The envelope sender ("local@domain", RFC 5321 §4.1.2) with its domain
    /// masqueraded, or nil when no rule applies.
    public func masquerade(address: String) -> String? {
        masqueradeRule?.rewriting(address: address)
    }

    /// `edits` applied in order: each prepend goes above everything (so the
    /// last one ends on top, as trace fields do, RFC 5321 §4.4), appends
    /// go at the end, a remove drops every field of that name.
    public static func apply(_ edits: [HeaderEdit], to headers: HeaderSection) -> HeaderSection {
        var fields = headers.fields
        for edit in edits {
            switch edit {
            case .prepend(let name, let value): fields.insert(makeField(name: name, value: value), at: 0)
            case .append(let name, let value): fields.append(makeField(name: name, value: value))
            case .remove(let name): fields.removeAll { $0.hasName(name) }
            case .removeAuthenticationResults(let id):
                fields.removeAll { $0.hasName("Authentication-Results") && Self.authservID(of: $0) == id.lowercased() }
            }
        }
        return HeaderSection(fields: fields)
    }

    /// The header section as wire bytes: "Name:" raw value CRLF per field
    /// (RFC 5322 §2.2), without the empty line that ends the section.
    /// An unchanged section parsed from CRLF input renders byte for byte.
    public static func render(_ headers: HeaderSection) -> [UInt8] {
        // Unchanged fields go out as the octets they came in as.
        headers.fields.reduce(into: []) { $0 += $1.wireBytes }
    }

    // MARK: Helpers

    static func compile(_ pattern: String, ignoringCase: Bool, setting: String,
                        entry: String) throws(HeaderRuleError) -> Regex<AnyRegexOutput> {
        do {
            let regex = try Regex(pattern)
            return ignoringCase ? regex.ignoresCase() : regex
        } catch {
            throw HeaderRuleError(setting: setting, entry: entry, reason: "invalid regular expression: \(error)")
        }
    }

    /// field-name = 1*ftext, printable ASCII except ":" (RFC 5322 §3.6.8).
    static func isFieldName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { $0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: ":") }
    }

    /// `field` with `regex` replaced in its decoded value, or nil when the
    /// regex does not match or changes nothing (the field keeps its bytes).
    static func replacing(_ field: HeaderField, regex: Regex<AnyRegexOutput>, template: String) -> HeaderField? {
        let decoded = field.decodedValue
        guard (try? regex.firstMatch(in: decoded)) != nil else { return nil }
        let replaced = decoded.replacing(regex) { match in expand(template, match: match) }
        return replaced == decoded ? nil : makeField(name: field.name, value: replaced)
    }

    /// `template` with "$1", "${1}" or "${name}" replaced by the group's
    /// text (empty when the group did not take part) and "$$" by "$".
    static func expand(_ template: String, match: Regex<AnyRegexOutput>.Match) -> String {
        var out = ""
        var rest = Substring(template)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            rest = rest[rest.index(after: dollar)...]
            if rest.first == "$" {
                out += "$"
                rest = rest.dropFirst()
            } else if rest.first == "{", let close = rest.firstIndex(of: "}") {
                let reference = String(rest[rest.index(after: rest.startIndex)..<close])
                out += group(reference, in: match)
                rest = rest[rest.index(after: close)...]
            } else if let digit = rest.first, digit.isASCII, digit.isNumber {
                let digits = rest.prefix { $0.isASCII && $0.isNumber }
                out += group(String(digits), in: match)
                rest = rest.dropFirst(digits.count)
            } else {
                out += "$"
            }
        }
        return out + rest
    }

    private static func group(_ reference: String, in match: Regex<AnyRegexOutput>.Match) -> Substring {
        if let number = Int(reference) {
            guard number < match.output.count else { return "" }
            return match.output[number].substring ?? ""
        }
        return match.output[reference]?.substring ?? ""
    }

    /// The authserv-id of an Authentication-Results value (RFC 8601 §2.2):
    /// the first token, before ";" or a version number.
    static func authservID(of field: HeaderField) -> String {
        let value = field.value.drop { $0 == " " || $0 == "\t" }
        return String(value.prefix { $0 != ";" && $0 != " " && $0 != "\t" && $0 != "(" }).lowercased()
    }
}
