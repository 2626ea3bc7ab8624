import DKIM
import Foundation
import Policy

extension TableReader {
    /// `[dkim]` with its `[[dkim.sign]]` entries. Each key file is read now,
    /// so a missing or unreadable key fails `config check` and a reload.
    mutating func readDKIM(_ table: TOMLTable, into policy: inout PolicyConfig) {
        checkKeys(table, allowed: ["sign"], prefix: "dkim.")
        guard let entries = tableArray(table, "sign", prefix: "dkim.") else { return }
        var seen = Set<String>()
        for entry in entries {
            guard let rule = readDKIMSign(entry) else { continue }
            if !seen.insert(rule.domain).inserted {
                issue(entry, "domain", "another [[dkim.sign]] signs for \(rule.domain) already", prefix: "dkim.sign.")
            }
            policy.dkimSign.append(rule)
        }
    }

    private mutating func readDKIMSign(_ table: TOMLTable) -> DKIMSignRule? {
        let prefix = "dkim.sign."
        checkKeys(table, allowed: ["domain", "selector", "key", "subdomains", "expire"], prefix: prefix)
        var missing = false
        for key in ["domain", "selector", "key"] where table[key] == nil {
            issue(table, nil, "dkim.sign.\(key) is required", line: table.headerLine)
            missing = true
        }
        guard !missing, let domain = string(table, "domain", prefix: prefix), let selector = string(table, "selector", prefix: prefix),
              let keyText = string(table, "key", prefix: prefix) else { return nil }
        let domainOK = DKIMPolicyNames.isDomain(domain), selectorOK = DKIMPolicyNames.isSelector(selector)
        if !domainOK { issue(table, "domain", "must be a domain name such as \"example.org\"", prefix: prefix) }
        if !selectorOK { issue(table, "selector", "must be one or more DNS labels such as \"s1\"", prefix: prefix) }
        var rule = DKIMSignRule(domain: domain.lowercased(), selector: selector, keyPath: resolve(keyText))
        if let subdomains = bool(table, "subdomains", prefix: prefix) { rule.subdomains = subdomains }
        if let expire = duration(table, "expire", prefix: prefix) {
            if expire < 3600 { issue(table, "expire", "must be at least 1h", prefix: prefix) } else { rule.expirySeconds = Int(expire) }
        }
        do { _ = try DKIMPolicyNames.loadKey(rule.keyPath) } catch {
            issue(table, "key", "\(rule.keyPath): \(error)", prefix: prefix)
            return nil
        }
        return domainOK && selectorOK ? rule : nil
    }
}

/// Checks and key loading shared by the loader, the listener and the CLI.
public enum DKIMPolicyNames {
    /// Reads a private key file (PEM or bare base64 Ed25519).
    public static func loadKey(_ path: String) throws -> DKIMSigningKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DKIMError.privateKey("cannot read the file")
        }
        return try DKIMSigningKey(pem: String(decoding: data, as: UTF8.self))
    }

    /// The signing table a policy's `[[dkim.sign]]` entries describe; nil
    /// when there are none. A key that no longer loads is left out (the
    /// loader reported it already).
    public static func signingTable(_ rules: [DKIMSignRule]) -> DKIMSigningTable? {
        let entries = rules.compactMap { rule -> DKIMSigningTable.Entry? in
            guard let key = try? loadKey(rule.keyPath) else { return nil }
            return DKIMSigningTable.Entry(
                signer: DKIMSigner(domain: rule.domain, selector: rule.selector, key: key, expiry: rule.expirySeconds),
                subdomains: rule.subdomains)
        }
        return entries.isEmpty ? nil : DKIMSigningTable(entries: entries)
    }

    static func isDomain(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy(isLabel)
    }

    static func isSelector(_ text: String) -> Bool {
        text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isLabel)
    }

    private static func isLabel(_ label: Substring) -> Bool {
        !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
            && label.utf8.allSatisfy { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || ($0 >= 0x30 && $0 <= 0x39)
                || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) }
    }
}
