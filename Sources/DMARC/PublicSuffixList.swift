import Foundation

/// The Public Suffix List (https://publicsuffix.org/list/) as DMARC needs it:
/// the organisational domain of a name
/// ([RFC 7489 §3.2](https://www.rfc-editor.org/rfc/rfc7489#section-3.2)).
/// Read from the file Debian's `publicsuffix` package keeps current, not
/// compiled in, so a package update is enough to follow the list.
public struct PublicSuffixList: Sendable {
    /// Where Debian's `publicsuffix` package puts the list.
    public static let debianPath = "/usr/share/publicsuffix/public_suffix_list.dat"

    /// Plain rules (`co.uk`), the parents of wildcards (`ck` for `*.ck`) and
    /// exceptions (`www.ck` for `!www.ck`), lowercased.
    private var rules: Set<String> = []
    private var wildcardParents: Set<String> = []
    private var exceptions: Set<String> = []

    public var ruleCount: Int { rules.count + wildcardParents.count + exceptions.count }

    /// Parses the list's text: one rule per line, the first word of it;
    /// `//` comments and blank lines skipped. Both the ICANN and the private
    /// sections count, as most DMARC receivers do.
    public init(text: String) {
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            guard let word = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first,
                  !word.hasPrefix("//") else { continue }
            let rule = word.lowercased()
            if rule.hasPrefix("!") {
                exceptions.insert(String(rule.dropFirst()))
            } else if rule.hasPrefix("*.") {
                wildcardParents.insert(String(rule.dropFirst(2)))
            } else if !rule.isEmpty {
                rules.insert(rule)
            }
        }
    }

    /// Reads the list from a file; an empty or unreadable file is an error
    /// (every domain would otherwise be its own organisation).
    public init(contentsOf path: String) throws(PublicSuffixListError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        self.init(text: String(decoding: data, as: UTF8.self))
        guard ruleCount > 0 else { throw .empty(path) }
    }

    /// The public suffix of `domain` (lowercased, without a trailing dot):
    /// an exception rule wins, then the rule matching most labels, else the
    /// last label (the implied `*` rule).
    public func publicSuffix(of domain: String) -> String {
        let labels = Self.labels(domain)
        guard !labels.isEmpty else { return "" }
        func suffix(_ from: Int) -> String { labels[from...].joined(separator: ".") }
        for start in labels.indices where exceptions.contains(suffix(start)) {
            return start + 1 < labels.count ? suffix(start + 1) : suffix(start)
        }
        for start in labels.indices {
            if rules.contains(suffix(start)) { return suffix(start) }
            if start + 1 < labels.count, wildcardParents.contains(suffix(start + 1)) { return suffix(start) }
        }
        return suffix(labels.count - 1)
    }

    /// The organisational domain (§3.2): the public suffix and one more label;
    /// a name that is itself a public suffix is its own.
    public func organisationalDomain(of domain: String) -> String {
        let labels = Self.labels(domain)
        let suffixLabels = publicSuffix(of: domain).split(separator: ".").count
        guard labels.count > suffixLabels else { return labels.joined(separator: ".") }
        return labels[(labels.count - suffixLabels - 1)...].joined(separator: ".")
    }

    static func labels(_ domain: String) -> [String] {
        var name = domain.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }
}

public enum PublicSuffixListError: Error, Sendable, Hashable, CustomStringConvertible {
    case unreadable(String)
    case empty(String)

    public var description: String {
        switch self {
        case .unreadable(let path): return "cannot read the public suffix list \(path)"
        case .empty(let path): return "the public suffix list \(path) holds no rules"
        }
    }
}
