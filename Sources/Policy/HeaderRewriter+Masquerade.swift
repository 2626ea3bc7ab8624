/// `[headers.masquerade]`: addresses at the listed domains are shown as
/// addresses at `target` (Postfix's masquerade_domains), in the envelope
/// sender and in From, Sender and Reply-To.
struct MasqueradeRule: Sendable {
    /// Lowercased, without a trailing dot.
    let exactDomains: Set<String>
    /// ".example.edu" entries, without the leading dot: subdomains only.
    let parentDomains: [String]
    let target: String

    init(_ masquerade: HeaderRules.Masquerade) throws(HeaderRuleError) {
        let target = masquerade.target.trimmingDomain()
        guard Self.isDomain(target) else {
            throw HeaderRuleError(setting: "headers.masquerade", entry: masquerade.target, reason: "not a domain")
        }
        var exact: Set<String> = []
        var parents: [String] = []
        for entry in masquerade.domains {
            var domain = Substring(entry.lowercased())
            if domain.hasPrefix("@") { domain = domain.dropFirst() }
            let isParent = domain.hasPrefix(".")
            let name = String(isParent ? domain.dropFirst() : domain).trimmingDomain()
            guard Self.isDomain(name) else {
                throw HeaderRuleError(setting: "headers.masquerade", entry: entry, reason: "not a domain")
            }
            if isParent { parents.append(name) } else { exact.insert(name) }
        }
        exactDomains = exact
        parentDomains = parents
        self.target = target
    }

    func applies(toDomain domain: String) -> Bool {
        let name = domain.lowercased().trimmingDomain()
        guard name != target.lowercased() else { return false }
        return exactDomains.contains(name) || parentDomains.contains { name.hasSuffix("." + $0) }
    }

    /// "local@domain" with the domain replaced, or nil when it does not apply.
    func rewriting(address: String) -> String? {
        guard let at = address.lastIndex(of: "@"), at != address.startIndex,
              applies(toDomain: String(address[address.index(after: at)...])) else { return nil }
        return address[..<at] + "@" + target
    }

    /// The raw field value with the domain of each matching addr-spec
    /// (RFC 5322 §3.4.1) replaced, or nil when none matched. Everything
    /// else — display names, quoted strings, comments, folding, encoded
    /// words — is copied byte for byte. Quoted strings and comments are
    /// skipped, so "alice@example.edu" <…> keeps its display name.
    func rewriting(fieldValue raw: String) -> String? {
        let bytes = Array(raw.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var changed = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let end = Self.endOfQuotedString(bytes, from: index)
                out += bytes[index..<end]
                index = end
            } else if byte == UInt8(ascii: "(") {
                let end = Self.endOfComment(bytes, from: index)
                out += bytes[index..<end]
                index = end
            } else if byte == UInt8(ascii: "="), let end = Self.endOfEncodedWord(bytes, from: index) {
                out += bytes[index..<end]
                index = end
            } else if byte == UInt8(ascii: "@"), let previous = out.last, !Self.isAddressBoundary(previous) {
                var end = index + 1
                while end < bytes.count, Self.isDomainByte(bytes[end]) { end += 1 }
                let domain = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
                let isWhole = end == bytes.count || Self.isAddressBoundary(bytes[end])
                if isWhole, !domain.isEmpty, applies(toDomain: domain) {
                    out.append(UInt8(ascii: "@"))
                    out += target.utf8
                    changed = true
                } else {
                    out += bytes[index..<end]
                }
                index = end
            } else {
                out.append(byte)
                index += 1
            }
        }
        return changed ? String(decoding: out, as: UTF8.self) : nil
    }

    // MARK: Scanning

    /// Index just past the closing quote (or the end); "\" escapes (RFC 5322 §3.2.4).
    static func endOfQuotedString(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return bytes.count
    }

    /// Index just past the comment's closing parenthesis; comments nest (RFC 5322 §3.2.2).
    static func endOfComment(_ bytes: [UInt8], from start: Int) -> Int {
        var depth = 0
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 1
            case UInt8(ascii: "("): depth += 1
            case UInt8(ascii: ")"):
                depth -= 1
                if depth == 0 { return index + 1 }
            default: break
            }
            index += 1
        }
        return bytes.count
    }

    /// An encoded word (RFC 2047 §2) starting a token at `start`: the index
    /// past its "?=", so an "@" inside one is not taken for an address.
    static func endOfEncodedWord(_ bytes: [UInt8], from start: Int) -> Int? {
        guard start + 1 < bytes.count, bytes[start + 1] == UInt8(ascii: "?") else { return nil }
        var end = start
        while end < bytes.count, !isWhitespace(bytes[end]), bytes[end] != UInt8(ascii: "\"") { end += 1 }
        let token = bytes[start..<end]
        guard token.count >= 8, token.suffix(2).elementsEqual("?=".utf8) else { return nil }
        return end
    }

    /// Where a local part cannot end or a domain must: white space and the
    /// specials that separate addresses (RFC 5322 §3.2.3).
    static func isAddressBoundary(_ byte: UInt8) -> Bool {
        isWhitespace(byte) || "<>,;:()@[]".utf8.contains(byte)
    }

    /// Letters, digits, hyphen, dot; underscore and UTF-8 (RFC 6532) tolerated.
    static func isDomainByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
            return true
        default:
            return byte >= 0x80
        }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
    }

    static func isDomain(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.utf8.allSatisfy(isDomainByte)
    }
}

extension String {
    /// Domain text without surrounding white space or a final dot.
    fileprivate func trimmingDomain() -> String {
        var text = Substring(self).drop { $0 == " " }
        while text.last == " " || text.last == "." { text = text.dropLast() }
        return String(text)
    }
}
