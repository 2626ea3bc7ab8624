import Foundation
import Policy

/// Reads a policy file (policies/*.toml) into a `PolicyConfig`, naming the
/// file, line and key of every mistake, like `ConfigLoader`.
public enum PolicyLoader {
    public static func load(file path: String) throws(ConfigErrors) -> PolicyConfig {
        try load(text: ConfigLoader.readText(path), file: path)
    }

    public static func load(text: String, file: String) throws(ConfigErrors) -> PolicyConfig {
        var policy = try ConfigLoader.read(text: text, file: file) { reader, root in reader.readPolicy(root) }
        policy.name = file
        return policy
    }
}

extension TableReader {
    mutating func readPolicy(_ root: TOMLTable) -> PolicyConfig {
        var policy = PolicyConfig()
        checkKeys(root, allowed: ["relay", "auth", "senders", "recipients", "size", "network", "users", "rate", "spf",
                                  "dmarc", "headers", "attachments", "scan", "dkim"], prefix: "")
        if let relay = table(root, "relay") { readRelay(relay, into: &policy) }
        if let auth = table(root, "auth") { readAuth(auth, into: &policy) }
        if let senders = table(root, "senders") {
            checkKeys(senders, allowed: ["allowed", "block"], prefix: "senders.")
            policy.senders.allowed = patterns(senders, "allowed", prefix: "senders.") ?? []
            policy.senders.blocked = patterns(senders, "block", prefix: "senders.") ?? []
        }
        if let recipients = table(root, "recipients") {
            checkKeys(recipients, allowed: ["block", "max_recipients"], prefix: "recipients.")
            policy.recipients.blocked = patterns(recipients, "block", prefix: "recipients.") ?? []
            if let value = number(recipients, "max_recipients", prefix: "recipients.", range: 1...100_000) {
                policy.recipients.maxRecipients = Int(value)
            }
        }
        if let size = table(root, "size") {
            checkKeys(size, allowed: ["max_message_size"], prefix: "size.")
            policy.maxMessageSize = byteSize(size, "max_message_size", prefix: "size.")
        }
        if let tables = tableArray(root, "network") {
            policy.networks = tables.compactMap { readNetworkRule($0) }
        }
        if let users = table(root, "users") {
            for entry in users.entries {
                guard let userTable = entry.value.tableValue else {
                    issue(users, entry.key, "must be a table: [users.\(entry.key)]", prefix: "users.")
                    continue
                }
                let prefix = "users.\(entry.key)."
                checkKeys(userTable, allowed: ["senders", "max_message_size"], prefix: prefix)
                var rule = PolicyConfig.UserRule()
                rule.senders = patterns(userTable, "senders", prefix: prefix) ?? []
                rule.maxMessageSize = byteSize(userTable, "max_message_size", prefix: prefix)
                policy.users[entry.key.lowercased()] = rule
            }
        }
        if let rate = table(root, "rate") { readRate(rate, into: &policy) }
        if let spf = table(root, "spf") { readSPF(spf, into: &policy) }
        if let dmarc = table(root, "dmarc") { readDMARC(dmarc, into: &policy) }
        if let headers = table(root, "headers") { readHeaders(headers, into: &policy) }
        if let dkim = table(root, "dkim") { readDKIM(dkim, into: &policy) }
        if let tables = tableArray(root, "scan") {
            var seen = Set<String>()
            for table in tables {
                guard let rule = readScan(table) else { continue }
                if !seen.insert(rule.name).inserted {
                    issue(table, "name", "another [[scan]] is already called \"\(rule.name)\": give each its own name", prefix: "scan.")
                }
                policy.scans.append(rule)
            }
        }
        if let attachments = table(root, "attachments") {
            let prefix = "attachments."
            checkKeys(attachments, allowed: ["block_extensions", "block_content_types"], prefix: prefix)
            policy.attachments.blockedExtensions = (strings(attachments, "block_extensions", prefix: prefix) ?? [])
                .map { $0.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".")) }
            policy.attachments.blockedContentTypes = (strings(attachments, "block_content_types", prefix: prefix) ?? [])
                .map { $0.lowercased() }
            for type in policy.attachments.blockedContentTypes where !type.contains("/") {
                issue(attachments, "block_content_types", "\(type) is not type/subtype", prefix: prefix)
            }
        }
        return policy
    }

    private mutating func readRelay(_ relay: TOMLTable, into policy: inout PolicyConfig) {
        let prefix = "relay."
        checkKeys(relay, allowed: ["trusted_networks", "local_domains", "relay_domains"], prefix: prefix)
        if let networks = networks(relay, "trusted_networks", prefix: prefix) {
            // Never an open relay: networks wider than any one organisation
            // holds (a /8 of IPv4, a /16 of IPv6) are refused.
            for network in networks {
                let widest: Int
                switch network.address {
                case .v4: widest = 8
                case .v6: widest = 16
                }
                guard network.prefixLength < widest else { continue }
                let what = network.prefixLength == 0 ? "would trust every address" : "is wider than /\(widest)"
                issue(relay, "trusted_networks", "\(network) \(what) and make Postern an open relay", prefix: prefix)
            }
            policy.relay.trustedNetworks = networks
        }
        if let domains = domains(relay, "local_domains", prefix: prefix) { policy.relay.localDomains = domains }
        if let domains = domains(relay, "relay_domains", prefix: prefix) { policy.relay.relayDomains = domains }
    }

    private mutating func readAuth(_ auth: TOMLTable, into policy: inout PolicyConfig) {
        let prefix = "auth."
        checkKeys(auth, allowed: ["enabled", "passwd_file", "mechanisms", "allow_plaintext", "max_failures", "failure_window"],
                  prefix: prefix)
        policy.auth.enabled = bool(auth, "enabled", prefix: prefix) ?? false
        policy.auth.allowPlaintext = bool(auth, "allow_plaintext", prefix: prefix) ?? false
        if let path = string(auth, "passwd_file", prefix: prefix) {
            let resolved = resolve(path)
            if !FileManager.default.isReadableFile(atPath: resolved) {
                issue(auth, "passwd_file", "cannot read \(resolved)", prefix: prefix)
            }
            policy.auth.passwordFile = resolved
        } else if policy.auth.enabled {
            issue(auth, nil, "auth.enabled needs auth.passwd_file", line: auth.headerLine)
        }
        if let mechanisms = strings(auth, "mechanisms", prefix: prefix) {
            let upper = mechanisms.map { $0.uppercased() }
            for name in upper where !["PLAIN", "LOGIN"].contains(name) {
                issue(auth, "mechanisms", "\(name) is not supported (PLAIN, LOGIN)", prefix: prefix)
            }
            if upper.isEmpty { issue(auth, "mechanisms", "needs at least one mechanism", prefix: prefix) }
            policy.auth.mechanisms = upper
        }
        if let value = number(auth, "max_failures", prefix: prefix, range: 1...10_000) { policy.auth.maxFailures = Int(value) }
        if let value = duration(auth, "failure_window", prefix: prefix) { policy.auth.failureWindowSeconds = value }
    }

    private mutating func readNetworkRule(_ table: TOMLTable) -> PolicyConfig.NetworkRule? {
        let prefix = "network."
        checkKeys(table, allowed: ["networks", "senders", "max_message_size"], prefix: prefix)
        guard let networks = networks(table, "networks", prefix: prefix) else {
            if table["networks"] == nil { issue(table, nil, "network.networks is required", line: table.headerLine) }
            return nil
        }
        var rule = PolicyConfig.NetworkRule(networks: networks)
        rule.senders = patterns(table, "senders", prefix: prefix) ?? []
        rule.maxMessageSize = byteSize(table, "max_message_size", prefix: prefix)
        return rule
    }

    private mutating func readRate(_ rate: TOMLTable, into policy: inout PolicyConfig) {
        let prefix = "rate."
        let counts: [(String, WritableKeyPath<PolicyConfig.RateSettings, Int>)] = [
            ("messages_per_ip", \.messagesPerIP), ("recipients_per_ip", \.recipientsPerIP),
            ("messages_per_user", \.messagesPerUser), ("recipients_per_user", \.recipientsPerUser),
        ]
        checkKeys(rate, allowed: Set(counts.map(\.0) + ["window"]), prefix: prefix)
        if let window = duration(rate, "window", prefix: prefix) { policy.rate.windowSeconds = window }
        for (key, path) in counts {
            if let value = number(rate, key, prefix: prefix, range: 0...10_000_000) { policy.rate[keyPath: path] = Int(value) }
        }
    }

    private mutating func readSPF(_ spf: TOMLTable, into policy: inout PolicyConfig) {
        let prefix = "spf."
        let actions: [(String, WritableKeyPath<PolicyConfig.SPFSettings, PolicyConfig.SPFSettings.Action>)] = [
            ("pass", \.pass), ("fail", \.fail), ("softfail", \.softfail), ("neutral", \.neutral), ("none", \.none),
            ("temperror", \.temperror), ("permerror", \.permerror),
        ]
        checkKeys(spf, allowed: Set(actions.map(\.0) + ["enabled", "check_helo", "skip_trusted", "skip_authenticated"]),
                  prefix: prefix)
        policy.spf.enabled = bool(spf, "enabled", prefix: prefix) ?? true
        if let value = bool(spf, "check_helo", prefix: prefix) { policy.spf.checkHELO = value }
        if let value = bool(spf, "skip_trusted", prefix: prefix) { policy.spf.skipTrusted = value }
        if let value = bool(spf, "skip_authenticated", prefix: prefix) { policy.spf.skipAuthenticated = value }
        let names = PolicyConfig.SPFSettings.Action.allCases.map(\.rawValue).joined(separator: ", ")
        for (key, path) in actions {
            guard let text = string(spf, key, prefix: prefix) else { continue }
            if let action = PolicyConfig.SPFSettings.Action(rawValue: text) { policy.spf[keyPath: path] = action }
            else { issue(spf, key, "must be one of: \(names)", prefix: prefix) }
        }
    }

    private mutating func readHeaders(_ headers: TOMLTable, into policy: inout PolicyConfig) {
        let prefix = "headers."
        checkKeys(headers, allowed: ["remove", "add", "replace", "masquerade", "strip_received"], prefix: prefix)
        var rules = HeaderRules()
        rules.remove = strings(headers, "remove", prefix: prefix) ?? []
        rules.add = strings(headers, "add", prefix: prefix) ?? []
        for field in rules.add where !Self.isHeaderField(field) {
            issue(headers, "add", "\"\(field)\" is not \"Name: value\"", prefix: prefix)
        }
        rules.stripReceived = bool(headers, "strip_received", prefix: prefix) ?? false
        if headers["replace"] != nil {
            if let tables = headers.tables("replace") {
                for table in tables {
                    checkKeys(table, allowed: ["name", "pattern", "replacement"], prefix: "headers.replace.")
                    guard let name = string(table, "name", prefix: "headers.replace."),
                          let pattern = string(table, "pattern", prefix: "headers.replace.") else {
                        issue(table, nil, "headers.replace needs name and pattern", line: table.headerLine)
                        continue
                    }
                    let replacement = string(table, "replacement", prefix: "headers.replace.") ?? ""
                    rules.replace.append(.init(name: name, pattern: pattern, replacement: replacement))
                }
            } else {
                issue(headers, "replace", "must be an array of tables: [[headers.replace]]", prefix: prefix)
            }
        }
        if let masquerade = table(headers, "masquerade") {
            checkKeys(masquerade, allowed: ["domains", "as"], prefix: "headers.masquerade.")
            let domains = strings(masquerade, "domains", prefix: "headers.masquerade.") ?? []
            if let target = string(masquerade, "as", prefix: "headers.masquerade.") {
                rules.masquerade = .init(domains: domains.map { $0.lowercased() }, target: target.lowercased())
            } else {
                issue(masquerade, nil, "headers.masquerade needs as = \"domain\"", line: masquerade.headerLine)
            }
        }
        // Compile the expressions now, so a bad one is named with its file.
        do {
            _ = try HeaderRewriter(rules: rules)
        } catch {
            issue(headers, nil, "\(error)", line: headers.headerLine)
        }
        policy.headers = rules
    }

    static func isHeaderField(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), colon > text.startIndex else { return false }
        // field-name = 1*ftext, printable ASCII except ":" (RFC 5322 §3.6.8).
        return text[..<colon].unicodeScalars.allSatisfy { $0.value >= 33 && $0.value <= 126 }
            && !text.contains("\r") && !text.contains("\n")
    }

    // MARK: typed values

    mutating func strings(_ table: TOMLTable, _ key: String, prefix: String) -> [String]? {
        guard let entry = table.entry(key) else { return nil }
        guard let array = entry.value.arrayValue else {
            issue(table, key, "must be an array of strings", prefix: prefix)
            return nil
        }
        let values = array.compactMap(\.stringValue)
        guard values.count == array.count else {
            issue(table, key, "must be an array of strings", prefix: prefix)
            return nil
        }
        return values
    }

    mutating func networks(_ table: TOMLTable, _ key: String, prefix: String) -> [IPNetwork]? {
        guard let texts = strings(table, key, prefix: prefix) else { return nil }
        var networks: [IPNetwork] = []
        for text in texts {
            if let network = IPNetwork(text) { networks.append(network) }
            else { issue(table, key, "\(text) is not an address or CIDR network", prefix: prefix) }
        }
        return networks
    }

    private mutating func domains(_ table: TOMLTable, _ key: String, prefix: String) -> [String]? {
        guard let texts = strings(table, key, prefix: prefix) else { return nil }
        for text in texts where text.isEmpty || text.contains("@") || text.contains(" ") {
            issue(table, key, "\"\(text)\" is not a domain", prefix: prefix)
        }
        return texts.map { $0.lowercased() }
    }

    private mutating func patterns(_ table: TOMLTable, _ key: String, prefix: String) -> [AddressPattern]? {
        guard let texts = strings(table, key, prefix: prefix) else { return nil }
        var patterns: [AddressPattern] = []
        for text in texts {
            if let pattern = AddressPattern(text) { patterns.append(pattern) }
            else { issue(table, key, "\"\(text)\" is not an address, @domain, .domain, <> or *", prefix: prefix) }
        }
        return patterns
    }

    /// Bytes as an integer or "512K", "25M", "1G" (powers of 1024).
    mutating func byteSize(_ table: TOMLTable, _ key: String, prefix: String) -> Int? {
        guard let entry = table.entry(key) else { return nil }
        if let value = entry.value.integerValue, value >= 1024, value <= 1 << 40 { return Int(value) }
        if let text = entry.value.stringValue, let last = text.uppercased().last, let number = Int(text.dropLast()), number > 0,
           let shift = ["K": 10, "M": 20, "G": 30][last], number <= (1 << 40) >> shift {
            return number << shift
        }
        issue(table, key, "must be a size in bytes (at least 1024) or like \"25M\"", prefix: prefix)
        return nil
    }

    /// Seconds as a number or "30s", "10m", "1h", "1d".
    mutating func duration(_ table: TOMLTable, _ key: String, prefix: String) -> Double? {
        guard let entry = table.entry(key) else { return nil }
        if let value = entry.value.doubleValue, value > 0 { return value }
        if let text = entry.value.stringValue, let seconds = DurationText.seconds(text) { return seconds }
        issue(table, key, "must be seconds or like \"10m\", \"1h\"", prefix: prefix)
        return nil
    }
}
