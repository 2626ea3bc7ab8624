import Foundation

/// Which signer signs a message: the one for the domain of its From
/// address, or for a parent of it when that entry allows subdomains
/// (issue #13: "chosen by the From header's domain").
public struct DKIMSigningTable: Sendable {
    public struct Entry: Sendable {
        public var signer: DKIMSigner
        /// Also sign for any subdomain of the signer's domain.
        public var subdomains: Bool

        public init(signer: DKIMSigner, subdomains: Bool) {
            self.signer = signer
            self.subdomains = subdomains
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// The signer for `domain`: an exact entry first, then the closest
    /// parent that allows subdomains.
    public func signer(for domain: String) -> DKIMSigner? {
        let domain = domain.lowercased()
        if let exact = entries.first(where: { $0.signer.domain.lowercased() == domain }) { return exact.signer }
        return entries
            .filter { $0.subdomains && domain.hasSuffix("." + $0.signer.domain.lowercased()) }
            .max { $0.signer.domain.count < $1.signer.domain.count }?
            .signer
    }

    /// The signer for a header section: by the domain of its (single) From
    /// address. No From, several From fields or no domain: nil.
    public func signer(forHeader section: some Collection<UInt8>) -> DKIMSigner? {
        let from = DKIMHeaderField.fields(in: section).filter { $0.lowercasedName == "from" }
        guard from.count == 1, let domain = Self.addressDomain(String(decoding: from[0].value, as: UTF8.self)) else {
            return nil
        }
        return signer(for: domain)
    }

    /// The domain of the one address in a From value (RFC 5322 §3.6.2):
    /// quoted display names and comments are set aside, then exactly one
    /// "@" must remain; its domain ends at ">" or white space. A From with
    /// several addresses, or none, gives nil and is left unsigned.
    static func addressDomain(_ value: String) -> String? {
        var plain = ""
        var quoted = false, depth = 0, escaped = false
        for character in value {
            if escaped { escaped = false; continue }
            if character == "\\" && (quoted || depth > 0) { escaped = true; continue }
            if character == "\"" && depth == 0 { quoted.toggle(); continue }
            if quoted { continue }
            if character == "(" { depth += 1; continue }
            if character == ")" && depth > 0 { depth -= 1; continue }
            if depth == 0 { plain.append(character) }
        }
        let parts = plain.split(separator: "@", omittingEmptySubsequences: false)
        // One "@", with a local part before it.
        guard parts.count == 2, let last = parts[0].last, !" \t\r\n<,:;".contains(last) else { return nil }
        let domain = parts[1].prefix { !" \t\r\n>,;".contains($0) }
        guard !domain.isEmpty, parts[1].dropFirst(domain.count).allSatisfy({ " \t\r\n>".contains($0) }) else { return nil }
        return domain.lowercased()
    }
}

extension DKIMSigningTable {
    /// Starts signing a message whose signer is not known yet: it is chosen
    /// by From once the header section has passed.
    public func begin(now: Date = Date()) -> DKIMTableSigning {
        DKIMTableSigning(table: self, now: now)
    }
}

/// One message signed by whichever table entry its From domain picks.
public struct DKIMTableSigning: Sendable {
    let table: DKIMSigningTable
    let now: Date
    private var splitter = DKIMMessageSplitter(maxHeaderBytes: DKIMDefaults.maxHeaderBytes)
    private var signing: DKIMSigning?

    init(table: DKIMSigningTable, now: Date) {
        self.table = table
        self.now = now
    }

    /// The signer chosen, once the header section was seen.
    public var signer: DKIMSigner? { signing?.signer }

    public mutating func update(_ chunk: some Collection<UInt8>) throws(DKIMError) {
        var splitter = self.splitter
        try splitter.feed(chunk) { (part) throws(DKIMError) in try self.handle(part) }
        self.splitter = splitter
    }

    /// The DKIM-Signature field, or nil when no entry signs for this From.
    public mutating func finish() throws(DKIMError) -> String? {
        var splitter = self.splitter
        try splitter.finish { (part) throws(DKIMError) in try self.handle(part) }
        self.splitter = splitter
        return try signing?.finish()
    }

    private mutating func handle(_ part: DKIMMessageSplitter.Part) throws(DKIMError) {
        switch part {
        case .header(let section):
            guard let signer = table.signer(forHeader: section) else { return }
            var signing = signer.begin(now: now)
            try signing.update(section + [0x0D, 0x0A])
            self.signing = signing
        case .body(let bytes):
            try signing?.update(bytes)
        }
    }
}
