import DNSModel

/// Syntax of `domain-spec` and turning an expanded one into a name to query
/// ([RFC 7208 §7.1, §7.3](https://www.rfc-editor.org/rfc/rfc7208#section-7.1)).
enum DomainSpec {
    /// Parses a domain-spec: a macro string ending in a macro-expand or in
    /// `"." toplabel [ "." ]`.
    ///
    /// ```
    /// domain-spec = macro-string domain-end
    /// domain-end  = ( "." toplabel [ "." ] ) / macro-expand
    /// ```
    static func parse(_ text: String) throws(MacroSyntaxError) -> MacroString {
        let string = try MacroString.parse(text, kind: .domainSpec)
        guard !string.tokens.isEmpty else { throw MacroSyntaxError(message: "empty domain-spec") }
        if string.endsWithExpansion { return string }
        var tail = Substring(string.trailingLiteral)
        if tail.hasSuffix(".") { tail = tail.dropLast() }
        guard let dot = tail.lastIndex(of: "."), isTopLabel(tail[tail.index(after: dot)...]) else {
            throw MacroSyntaxError(message: "\"\(text)\" does not end in a valid top-level label")
        }
        return string
    }

    /// ```
    /// toplabel = ( *alphanum ALPHA *alphanum ) /
    ///            ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
    /// ```
    /// That is: letters, digits and hyphens, not all digits unless a hyphen is present,
    /// and neither starting nor ending with a hyphen.
    static func isTopLabel(_ label: Substring) -> Bool {
        let bytes = Array(label.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        func isAlphanumeric(_ byte: UInt8) -> Bool { isLetter(byte) || (48...57).contains(byte) }
        func isLetter(_ byte: UInt8) -> Bool { (65...90).contains(byte) || (97...122).contains(byte) }
        guard bytes.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") }) else { return false }
        if bytes.contains(UInt8(ascii: "-")) { return isAlphanumeric(first) && isAlphanumeric(last) }
        return bytes.contains(where: isLetter)
    }

    /// The name to query for an expanded domain-spec: one trailing dot dropped, labels
    /// removed from the left while longer than `limit` characters (§7.3). `nil` when the
    /// result is no valid DNS name (empty label, label over 63 octets): the mechanism
    /// then matches nothing (§4.3, 4.8).
    static func targetName(fromExpanded expanded: String, limit: Int) -> DNSName? {
        var text = Substring(expanded)
        if text.hasSuffix(".") { text = text.dropLast() }
        while text.utf8.count > limit, let dot = text.firstIndex(of: ".") {
            text = text[text.index(after: dot)...]
        }
        guard !text.isEmpty, text.utf8.count <= limit, let name = DNSName(String(text)), !name.isRoot else { return nil }
        return name
    }

    /// Whether an identity's domain may be checked at all (§4.3): a fully qualified
    /// name of valid labels whose last label is a top label. Otherwise the result is
    /// `none` (an unqualified HELO, a domain literal, an empty or over-long label).
    static func isCheckableDomain(_ domain: String) -> Bool {
        var text = Substring(domain)
        if text.hasSuffix(".") { text = text.dropLast() }
        guard text.utf8.count <= SPFLimits.rfc7208.domainLength, let name = DNSName(String(text)),
              name.labels.count >= 2, let top = name.labels.last
        else { return false }
        return isTopLabel(Substring(decoding: top, as: UTF8.self))
    }
}
