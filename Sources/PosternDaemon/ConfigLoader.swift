import DNS
import Foundation
import Logging
import MailQueue
import SMTPCore

/// Reads `postern.toml` into a `PosternConfig`, collecting every mistake
/// (unknown keys, wrong types, bad values, unreadable files) with its line,
/// rather than stopping at the first.
public enum ConfigLoader {
    public static func load(file path: String) throws(ConfigErrors) -> PosternConfig {
        try load(text: readText(path), file: path)
    }

    public static func load(text: String, file: String) throws(ConfigErrors) -> PosternConfig {
        try read(text: text, file: file) { reader, root in reader.read(root) }
    }

    /// A file's text, or its error as a `ConfigErrors`.
    static func readText(_ path: String) throws(ConfigErrors) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigErrors(issues: [ConfigIssue(file: path, line: nil, key: nil, message: "cannot read file: \(error.localizedDescription)")])
        }
    }

    /// Parses TOML text and walks it with `body`, collecting every issue.
    static func read<Result>(text: String, file: String,
                             _ body: (inout TableReader, TOMLTable) -> Result) throws(ConfigErrors) -> Result {
        let root: TOMLTable
        do {
            root = try TOML.parse(text)
        } catch {
            throw ConfigErrors(issues: [ConfigIssue(file: file, line: error.line, key: nil, message: error.message)])
        }
        var reader = TableReader(file: file, baseDirectory: (file as NSString).deletingLastPathComponent)
        let result = body(&reader, root)
        guard reader.issues.isEmpty else { throw ConfigErrors(issues: reader.issues) }
        return result
    }
}

/// Walks the TOML tables; each accessor records an issue instead of throwing.
struct TableReader {
    let file: String
    let baseDirectory: String
    var issues: [ConfigIssue] = []

    mutating func read(_ root: TOMLTable) -> PosternConfig {
        var config = PosternConfig()
        checkKeys(root, allowed: ["hostname", "listener", "queue", "quarantine", "limits", "tls", "log", "delivery", "dns",
                                  "control", "metrics", "daemon", "imap", "pop3"], prefix: "")
        if let hostname = string(root, "hostname", prefix: "") {
            if hostname.isEmpty || hostname.contains(" ") { issue(root, "hostname", "must be a host name") }
            else { config.hostname = hostname }
        }
        if root["listener"] != nil {
            if let listeners = root.tables("listener") {
                config.listeners = []
                for table in listeners {
                    if let listener = readListener(table) { config.listeners.append(listener) }
                }
            } else {
                issue(root, "listener", "must be an array of tables: [[listener]]")
            }
        }
        if let queue = table(root, "queue") {
            checkKeys(queue, allowed: ["directory", "sync", "commit_delay_ms", "journal_size_mb"], prefix: "queue.")
            if let directory = string(queue, "directory", prefix: "queue.") { config.queueDirectory = resolve(directory) }
            if let sync = string(queue, "sync", prefix: "queue.") {
                if let mode = MailQueue.SyncMode(rawValue: sync) { config.syncMode = mode }
                else { issue(queue, "sync", "must be one of: syncfs, fsync", prefix: "queue.") }
            }
            if let delay = number(queue, "commit_delay_ms", prefix: "queue.", range: 0...100) { config.commitDelayMilliseconds = delay }
            if let size = number(queue, "journal_size_mb", prefix: "queue.", range: 0...1024) {
                if size != size.rounded() { issue(queue, "journal_size_mb", "must be 0 (off) or a whole number of MiB from 1 to 1024", prefix: "queue.") }
                else { config.journalSizeMiB = Int(size) }
            }
        }
        if let quarantine = table(root, "quarantine") {
            checkKeys(quarantine, allowed: ["directory", "admins"], prefix: "quarantine.")
            if let admins = strings(quarantine, "admins", prefix: "quarantine.") { config.quarantine.admins = admins }
            if let directory = string(quarantine, "directory", prefix: "quarantine.") {
                if directory.isEmpty { issue(quarantine, "directory", "must be a directory path", prefix: "quarantine.") }
                else { config.quarantine.directory = resolve(directory) }
            }
        }
        if let imap = table(root, "imap") { readMailAccess(imap, "imap", into: &config.imap) }
        if let pop3 = table(root, "pop3") { readMailAccess(pop3, "pop3", into: &config.pop3) }
        if config.imap.isEnabled || config.pop3.isEnabled {
            let name = config.imap.isEnabled ? "imap" : "pop3"
            if root["tls"] == nil { issue(root, name, "[\(name)] needs [tls] (a certificate for STARTTLS and implicit TLS)") }
            // Logins use the password file of a listener with AUTH (MailAccess).
            if !config.listeners.contains(where: { $0.policy?.auth.enabled == true && $0.policy?.auth.passwordFile != nil }) {
                issue(root, name, "[\(name)] needs a [[listener]] whose policy enables [auth] with a password_file (its users log in)")
            }
        }
        if let limits = table(root, "limits") { readLimits(limits, into: &config) }
        if let tls = table(root, "tls") {
            checkKeys(tls, allowed: ["certificate", "key"], prefix: "tls.")
            let certificate = string(tls, "certificate", prefix: "tls.").map(resolve)
            let key = string(tls, "key", prefix: "tls.").map(resolve)
            for (name, path) in [("certificate", certificate), ("key", key)] {
                if let path, !FileManager.default.isReadableFile(atPath: path) {
                    issue(tls, name, "cannot read \(path)", prefix: "tls.")
                }
            }
            if let certificate, let key { config.tls = .init(certificateFile: certificate, keyFile: key) }
            else { issue(tls, nil, "tls needs both certificate and key", line: tls.headerLine) }
        }
        if let delivery = table(root, "delivery") { readDelivery(delivery, into: &config) }
        if let dns = table(root, "dns") {
            checkKeys(dns, allowed: ["servers", "timeout", "validating"], prefix: "dns.")
            if let entry = dns.entry("servers") {
                if let servers = entry.value.arrayValue?.compactMap(\.stringValue), servers.count == entry.value.arrayValue?.count {
                    // The same parser the daemon uses, so what passes here is what runs.
                    for server in servers where DNSServerAddress(parsing: server) == nil {
                        issue(dns, "servers", "\(server) is not an IP address or IP:PORT", prefix: "dns.")
                    }
                    config.dnsServers = servers
                } else {
                    issue(dns, "servers", "must be an array of strings", prefix: "dns.")
                }
            }
            if let timeout = number(dns, "timeout", prefix: "dns.", range: 0.05...60) { config.dnsTimeoutSeconds = timeout }
            if let validating = bool(dns, "validating", prefix: "dns.") { config.dnsValidating = validating }
        }
        if let control = table(root, "control") { readControl(control, into: &config) }
        if let metrics = table(root, "metrics") { readMetrics(metrics, into: &config) }
        if let daemon = table(root, "daemon") { readDaemon(daemon, into: &config) }
        if config.controlSocketPath.utf8.count > ControlServer.maxPathBytes {
            issues.append(ConfigIssue(file: file, line: nil, key: "control.socket",
                                      message: "\(config.controlSocketPath) is longer than the \(ControlServer.maxPathBytes) bytes a Unix socket path may have; set [control] socket"))
        }
        if let log = table(root, "log") {
            checkKeys(log, allowed: ["level", "format"], prefix: "log.")
            if let level = string(log, "level", prefix: "log.") {
                if let value = Logger.Level(rawValue: level) { config.logLevel = value }
                else { issue(log, "level", "must be one of: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))", prefix: "log.") }
            }
            if let format = string(log, "format", prefix: "log.") {
                if let value = PosternLogHandler.Format(rawValue: format) { config.logFormat = value }
                else { issue(log, "format", "must be logfmt or json", prefix: "log.") }
            }
        }
        return config
    }

    private mutating func readControl(_ table: TOMLTable, into config: inout PosternConfig) {
        checkKeys(table, allowed: ["socket", "mode", "group"], prefix: "control.")
        if let socket = string(table, "socket", prefix: "control.") { config.control.socket = resolve(socket) }
        if let mode = string(table, "mode", prefix: "control.") {
            if let bits = UInt32(mode, radix: 8), bits <= 0o777 { config.control.mode = bits }
            else { issue(table, "mode", "must be octal permission bits, e.g. \"0660\"", prefix: "control.") }
        }
        if let group = string(table, "group", prefix: "control.") {
            if getgrnam(group) != nil { config.control.group = group }
            else { issue(table, "group", "no such group: \(group)", prefix: "control.") }
        }
    }

    /// `[metrics]`: present means on, unless `enabled = false`.
    private mutating func readMetrics(_ table: TOMLTable, into config: inout PosternConfig) {
        checkKeys(table, allowed: ["enabled", "address"], prefix: "metrics.")
        config.metrics.enabled = bool(table, "enabled", prefix: "metrics.") ?? true
        if let text = string(table, "address", prefix: "metrics.") {
            if let address = PosternConfig.parseListenAddress(text) { config.metrics.address = address }
            else { issue(table, "address", "expected HOST:PORT, e.g. 127.0.0.1:9125", prefix: "metrics.") }
        }
    }

    /// The names must exist now, so a typo is found by `config check`
    /// rather than at the next start.
    private mutating func readDaemon(_ table: TOMLTable, into config: inout PosternConfig) {
        checkKeys(table, allowed: ["user", "group"], prefix: "daemon.")
        if let user = string(table, "user", prefix: "daemon.") {
            if let entry = getpwnam(user) {
                if entry.pointee.pw_uid == 0 { issue(table, "user", "must be an unprivileged user, not uid 0", prefix: "daemon.") }
                else { config.daemon.user = user }
            } else {
                issue(table, "user", "no such user: \(user)", prefix: "daemon.")
            }
        }
        if let group = string(table, "group", prefix: "daemon.") {
            if table["user"] == nil { issue(table, "group", "needs daemon.user: the group is taken on when dropping to that user", prefix: "daemon.") }
            else if getgrnam(group) != nil { config.daemon.group = group }
            else { issue(table, "group", "no such group: \(group)", prefix: "daemon.") }
        }
    }

    private mutating func readLimits(_ table: TOMLTable, into config: inout PosternConfig) {
        let keys: [(String, WritableKeyPath<PosternConfig, Int>, ClosedRange<Int>)] = [
            ("max_message_size", \.limits.maxMessageSize, 1024...(1 << 40)),
            ("max_recipients", \.limits.maxRecipients, 1...100_000),
            ("max_errors", \.limits.maxErrors, 1...1000),
            ("max_refused_recipients", \.limits.maxRefusedRecipients, 1...100_000),
            ("max_junk_commands", \.limits.maxJunkCommands, 0...1_000_000),
            ("max_connections", \.limits.maxConnections, 1...1_000_000),
            ("max_connections_per_ip", \.limits.maxConnectionsPerIP, 1...1_000_000),
            ("command_timeout", \.limits.commandTimeoutSeconds, 1...86400),
            ("data_timeout", \.limits.dataTimeoutSeconds, 1...86400),
            ("min_data_rate", \.limits.minDataRate, 0...(1 << 30)),
            ("data_rate_grace", \.limits.dataRateGraceSeconds, 0...86400),
            ("stress_threshold", \.limits.stressThresholdPercent, 0...100),
            ("stress_timeout", \.limits.stressTimeoutSeconds, 1...86400),
            ("max_header_size", \.limits.maxHeaderBytes, 1024...(64 << 20)),
            ("shutdown_grace", \.shutdownGraceSeconds, 0...3600),
        ]
        checkKeys(table, allowed: Set(keys.map(\.0) + ["long_lines"]), prefix: "limits.")
        if let text = string(table, "long_lines", prefix: "limits.") {
            if let value = SMTPLimits.LongLines(rawValue: text) { config.limits.longLines = value }
            else { issue(table, "long_lines", "must be one of: split, refuse", prefix: "limits.") }
        }
        for (key, path, range) in keys {
            if let value = integer(table, key, prefix: "limits.", range: range) { config[keyPath: path] = value }
        }
    }

    private mutating func readDelivery(_ table: TOMLTable, into config: inout PosternConfig) {
        let prefix = "delivery."
        checkKeys(table, allowed: ["enabled", "workers", "per_destination", "port", "relayhost", "relay_user",
                                   "relay_password", "relay_tls", "tls", "routes", "retry_min", "retry_max",
                                   "lifetime", "delay_warning", "timeout", "max_active", "dead_after", "dead_time",
                                   "mta_sts", "mta_sts_port", "tls_ca_file"],
                  prefix: prefix)
        var d = config.delivery
        if let value = bool(table, "enabled", prefix: prefix) { d.enabled = value }
        if let value = number(table, "workers", prefix: prefix, range: 1...1000) { d.workers = Int(value) }
        if let value = number(table, "per_destination", prefix: prefix, range: 1...1000) { d.perDestination = Int(value) }
        if let value = number(table, "max_active", prefix: prefix, range: 1...1_000_000) { d.maxActive = Int(value) }
        if let value = number(table, "dead_after", prefix: prefix, range: 0...1000) { d.deadAfter = Int(value) }
        if let value = number(table, "dead_time", prefix: prefix, range: 1...86400) { d.deadTimeSeconds = value }
        if let value = number(table, "port", prefix: prefix, range: 1...65535) { d.port = Int(value) }
        if let relay = string(table, "relayhost", prefix: prefix) {
            if Self.parseDestination(relay) == nil { issue(table, "relayhost", "expected [host]:port or host:port", prefix: prefix) }
            else { d.relayhost = relay }
        }
        d.relayUser = string(table, "relay_user", prefix: prefix)
        d.relayPassword = string(table, "relay_password", prefix: prefix)
        for (key, path) in [("relay_tls", \PosternConfig.DeliverySettings.relayTLS), ("tls", \.tls)] {
            if let value = string(table, key, prefix: prefix) {
                if ["none", "opportunistic", "required"].contains(value) { d[keyPath: path] = value }
                else { issue(table, key, "must be none, opportunistic or required", prefix: prefix) }
            }
        }
        if let routes = table.entry("routes") {
            if let routeTable = routes.value.tableValue {
                for entry in routeTable.entries {
                    if let problem = Self.routeProblem(entry.value.stringValue) {
                        issues.append(ConfigIssue(file: file, line: entry.line, key: "delivery.routes.\(entry.key)",
                                                  message: problem))
                        continue
                    }
                    d.routes[entry.key.lowercased()] = entry.value.stringValue
                }
            } else {
                issue(table, "routes", "must be a table: [delivery.routes]", prefix: prefix)
            }
        }
        if let value = number(table, "retry_min", prefix: prefix, range: 1...86400) { d.retryMinimumSeconds = value }
        if let value = number(table, "retry_max", prefix: prefix, range: 1...(86400 * 7)) { d.retryMaximumSeconds = value }
        if let value = number(table, "lifetime", prefix: prefix, range: 0...(86400 * 60)) { d.lifetimeSeconds = value }
        if let value = number(table, "delay_warning", prefix: prefix, range: 0...(86400 * 60)) { d.delayWarningSeconds = value }
        if let value = number(table, "timeout", prefix: prefix, range: 0.1...3600) { d.commandTimeoutSeconds = value }
        if let value = bool(table, "mta_sts", prefix: prefix) { d.mtaSTS = value }
        if let value = number(table, "mta_sts_port", prefix: prefix, range: 1...65535) { d.mtaSTSPort = Int(value) }
        if let path = string(table, "tls_ca_file", prefix: prefix).map(resolve) {
            if FileManager.default.isReadableFile(atPath: path) { d.tlsCAFile = path }
            else { issue(table, "tls_ca_file", "cannot read \(path)", prefix: prefix) }
        }
        config.delivery = d
    }

    /// What is wrong with a `[delivery.routes]` value, or nil: a next hop
    /// or a `maildir:` template (a bad one is named here, not at delivery).
    static func routeProblem(_ value: String?) -> String? {
        let expected = "expected \"[host]:port\", \"host:port\" or \"maildir:/path/%d/%u\""
        guard let value else { return expected }
        guard value.hasPrefix(MaildirRoute.scheme) else { return parseDestination(value) == nil ? expected : nil }
        do {
            _ = try MaildirRoute(parsing: value)
            return nil
        } catch {
            return error.description
        }
    }

    /// "[host]:port" (no MX lookup), "host:port" or "host" (MX lookup of host).
    static func parseDestination(_ text: String) -> (host: String, port: Int?, lookUpMX: Bool)? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return host.isEmpty ? nil : (host, nil, false) }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port), !host.isEmpty else { return nil }
            return (host, port, false)
        }
        if let colon = text.lastIndex(of: ":") {
            guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port), colon > text.startIndex else { return nil }
            return (String(text[..<colon]), port, true)
        }
        return text.isEmpty || text.contains(" ") ? nil : (text, nil, true)
    }

    /// An integer (not a float) within `range`.
    mutating func integer(_ table: TOMLTable, _ key: String, prefix: String, range: ClosedRange<Int>) -> Int? {
        guard let entry = table.entry(key) else { return nil }
        guard let value = entry.value.integerValue else {
            issue(table, key, "must be an integer, not \(entry.value.typeName)", prefix: prefix)
            return nil
        }
        guard range.contains(Int(value)) else {
            issue(table, key, "must be between \(range.lowerBound) and \(range.upperBound)", prefix: prefix)
            return nil
        }
        return Int(value)
    }

    /// An integer or float within `range`.
    mutating func number(_ table: TOMLTable, _ key: String, prefix: String, range: ClosedRange<Double>) -> Double? {
        guard let entry = table.entry(key) else { return nil }
        guard let value = entry.value.doubleValue else {
            issue(table, key, "must be a number, not \(entry.value.typeName)", prefix: prefix)
            return nil
        }
        guard range.contains(value) else {
            issue(table, key, "must be between \(Self.text(range.lowerBound)) and \(Self.text(range.upperBound))", prefix: prefix)
            return nil
        }
        return value
    }

    static func text(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    // MARK: helpers

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") || baseDirectory.isEmpty ? path : baseDirectory + "/" + path
    }

    mutating func checkKeys(_ table: TOMLTable, allowed: Set<String>, prefix: String) {
        for entry in table.entries where !allowed.contains(entry.key) {
            issues.append(ConfigIssue(file: file, line: entry.line, key: prefix + entry.key,
                                      message: "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))"))
        }
    }

    mutating func string(_ table: TOMLTable, _ key: String, prefix: String) -> String? {
        typed(table, key, prefix: prefix, \.stringValue) { "must be a string, not \($0.typeName)" }
    }

    /// `[imap]` / `[pop3]`: listen, listen_tls, allow_plaintext_auth, idle_timeout;
    /// `[imap]` also max_connections_per_user_ip.
    mutating func readMailAccess(_ table: TOMLTable, _ name: String, into settings: inout PosternConfig.MailAccessSettings) {
        let prefix = name + "."
        checkKeys(table, allowed: Set(["listen", "listen_tls", "allow_plaintext_auth", "idle_timeout"]
                                      + (name == "imap" ? ["max_connections_per_user_ip"] : [])), prefix: prefix)
        for (key, tls) in [("listen", false), ("listen_tls", true)] {
            guard let texts = strings(table, key, prefix: prefix) else { continue }
            var listeners: [PosternConfig.Listener] = []
            for text in texts {
                guard let listener = PosternConfig.parseListenAddress(text) else {
                    issue(table, key, "\(text): expected HOST:PORT, e.g. 127.0.0.1:\(name == "imap" ? 143 : 110)", prefix: prefix)
                    continue
                }
                listeners.append(listener)
            }
            if tls { settings.tlsListeners = listeners } else { settings.listeners = listeners }
        }
        if let allow = bool(table, "allow_plaintext_auth", prefix: prefix) { settings.allowPlaintextAuth = allow }
        if let idle = number(table, "idle_timeout", prefix: prefix, range: 60...86_400) { settings.idleTimeoutSeconds = idle }
        if name == "imap", let limit = integer(table, "max_connections_per_user_ip", prefix: prefix, range: 0...100_000) {
            settings.maxConnectionsPerUserIP = limit
        }
    }

    mutating func bool(_ table: TOMLTable, _ key: String, prefix: String) -> Bool? {
        typed(table, key, prefix: prefix, \.boolValue) { _ in "must be true or false" }
    }

    /// The value at `key` as the type `extract` gives, or an issue saying
    /// what was expected.
    mutating func typed<Value>(_ table: TOMLTable, _ key: String, prefix: String, _ extract: (TOMLValue) -> Value?,
                               expected: (TOMLValue) -> String) -> Value? {
        guard let entry = table.entry(key) else { return nil }
        guard let value = extract(entry.value) else {
            issue(table, key, expected(entry.value), prefix: prefix)
            return nil
        }
        return value
    }

    /// `[[prefix + key]]`: the tables, nil when absent, or nil and an issue
    /// when the key holds something else.
    mutating func tableArray(_ table: TOMLTable, _ key: String, prefix: String = "") -> [TOMLTable]? {
        guard table[key] != nil else { return nil }
        guard let tables = table.tables(key) else {
            issue(table, key, "must be an array of tables: [[\(prefix)\(key)]]", prefix: prefix)
            return nil
        }
        return tables
    }

    mutating func table(_ root: TOMLTable, _ key: String) -> TOMLTable? {
        guard let entry = root.entry(key) else { return nil }
        guard let table = entry.value.tableValue else {
            issue(root, key, "must be a table: [\(key)]")
            return nil
        }
        return table
    }

    mutating func issue(_ table: TOMLTable, _ key: String?, _ message: String, prefix: String = "", line: Int? = nil) {
        let where_ = line ?? key.flatMap { table.line(of: $0) } ?? table.headerLine
        issues.append(ConfigIssue(file: file, line: where_, key: key.map { prefix + $0 }, message: message))
    }
}
