import Policy

extension TableReader {
    /// One `[[scan]]` table. Every key is checked, so a misspelt action
    /// is an error at load (and at SIGHUP, which then keeps the old policy).
    mutating func readScan(_ table: TOMLTable) -> ScanRule? {
        let prefix = "scan."
        checkKeys(table, allowed: ["backend", "name", "address", "database", "threads", "timeout", "max_size", "max_in_flight",
                                   "on_error", "virus", "tag_score", "quarantine_score", "reject_score", "subject_tag",
                                   "use_scanner_action", "user", "failures", "cool_down"], prefix: prefix)
        guard let backendText = string(table, "backend", prefix: prefix) else {
            if table["backend"] == nil { issue(table, nil, "scan.backend is required (clamd, clamav, spamd or rspamd)", line: table.headerLine) }
            return nil
        }
        guard let backend = ScanRule.Backend(rawValue: backendText) else {
            issue(table, "backend", "must be one of: clamd, clamav, spamd, rspamd", prefix: prefix)
            return nil
        }
        var rule = ScanRule(backend: backend, name: string(table, "name", prefix: prefix))
        rule.address = string(table, "address", prefix: prefix)
        rule.database = string(table, "database", prefix: prefix).map(resolve)
        if backend == .clamav {
            if rule.database == nil { issue(table, nil, "scan.database is required for backend clamav", line: table.headerLine) }
            if rule.address != nil { issue(table, "address", "backend clamav scans in process: give database, not address", prefix: prefix) }
        } else {
            if let address = rule.address {
                if !address.hasPrefix("/") && !Self.isHostPort(address) {
                    issue(table, "address", "must be a Unix socket path or HOST:PORT, e.g. 127.0.0.1:3310", prefix: prefix)
                }
            } else if table["address"] == nil {
                issue(table, nil, "scan.address is required for backend \(backend.rawValue)", line: table.headerLine)
            }
            if rule.database != nil { issue(table, "database", "only for backend clamav", prefix: prefix) }
        }
        if let threads = number(table, "threads", prefix: prefix, range: 1...256) { rule.threads = Int(threads) }
        if let timeout = duration(table, "timeout", prefix: prefix) {
            // Bounded: the value becomes integer milliseconds and timers.
            if timeout > 3600 { issue(table, "timeout", "must be at most 1h", prefix: prefix) } else { rule.timeoutSeconds = timeout }
        }
        if table["max_size"] != nil { rule.maxSize = byteSize(table, "max_size", prefix: prefix) }
        if let limit = number(table, "max_in_flight", prefix: prefix, range: 1...10_000) { rule.maxInFlight = Int(limit) }
        else if backend == .clamav, let threads = rule.threads { rule.maxInFlight = 2 * threads }
        if let text = string(table, "on_error", prefix: prefix) {
            if let action = ScanRule.ErrorAction(rawValue: text) { rule.onError = action }
            else { issue(table, "on_error", "must be tempfail or accept", prefix: prefix) }
        }
        if let text = string(table, "virus", prefix: prefix) {
            if !backend.isVirusScanner { issue(table, "virus", "only for virus scanners (clamd, clamav)", prefix: prefix) }
            if let action = ScanRule.VirusAction(rawValue: text) { rule.virus = action }
            else { issue(table, "virus", "must be reject, quarantine or discard", prefix: prefix) }
        }
        let spamKeys = ["tag_score", "quarantine_score", "reject_score", "subject_tag", "use_scanner_action", "user"]
        for key in spamKeys where backend.isVirusScanner && table[key] != nil {
            issue(table, key, "only for spam scanners (spamd, rspamd)", prefix: prefix)
        }
        rule.tagScore = number(table, "tag_score", prefix: prefix, range: -1000...10_000)
        rule.quarantineScore = number(table, "quarantine_score", prefix: prefix, range: -1000...10_000)
        rule.rejectScore = number(table, "reject_score", prefix: prefix, range: -1000...10_000)
        if let quarantine = rule.quarantineScore, let reject = rule.rejectScore, quarantine > reject {
            issue(table, "quarantine_score", "is above reject_score: nothing would be quarantined", prefix: prefix)
        }
        rule.subjectTag = string(table, "subject_tag", prefix: prefix)
        if let use = bool(table, "use_scanner_action", prefix: prefix) { rule.useScannerAction = use }
        rule.user = string(table, "user", prefix: prefix)
        if let failures = number(table, "failures", prefix: prefix, range: 1...1000) { rule.failureLimit = Int(failures) }
        if let coolDown = duration(table, "cool_down", prefix: prefix) {
            if coolDown > 86400 { issue(table, "cool_down", "must be at most 1d", prefix: prefix) } else { rule.coolDownSeconds = coolDown }
        }
        for key in ["subject_tag", "user", "name"] {
            if let text = table[key]?.stringValue, text.contains(where: { $0.isNewline || $0 == "\t" }) || text.isEmpty {
                issue(table, key, "must be one line of text", prefix: prefix)
            }
        }
        return rule
    }

    static func isHostPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), colon > text.startIndex,
              let port = Int(text[text.index(after: colon)...]) else { return false }
        return (1...65535).contains(port)
    }
}
