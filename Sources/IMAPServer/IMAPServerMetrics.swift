import CoreMetrics

/// What the IMAP side counts (as `POP3ServerMetrics`). Labels take only
/// values from small fixed sets, never a user, an address or a message.
public enum IMAPServerMetrics {
    /// Name → help text, for the exporter's `# HELP` lines.
    public static let help: [String: String] = [
        "postern_imap_sessions_total": "IMAP connections accepted.",
        "postern_imap_connections_refused_total": "IMAP connections refused with BYE over [limits] max_connections or max_connections_per_ip.",
        "postern_imap_logins_total": "IMAP logins, by result (success, failure, error, throttled, limited: over [imap] max_connections_per_user_ip).",
        "postern_imap_released_total": "Held messages released by their users (COPY or MOVE to Release).",
        "postern_imap_expunged_total": "Messages removed by users (EXPUNGE, CLOSE).",
    ]

    enum LoginResult: String, CaseIterable {
        case success, failure, error, throttled, limited
    }

    static let sessions = Counter(label: "postern_imap_sessions_total")
    static let refused = Counter(label: "postern_imap_connections_refused_total")
    static let logins: [LoginResult: Counter] = Dictionary(uniqueKeysWithValues: LoginResult.allCases.map {
        ($0, Counter(label: "postern_imap_logins_total", dimensions: [("result", $0.rawValue)]))
    })
    static let released = Counter(label: "postern_imap_released_total")
    static let expunged = Counter(label: "postern_imap_expunged_total")

    /// Makes the series that exist from the start, so a scrape shows them at zero.
    public static func prepare() {
        _ = (sessions, refused, logins, released, expunged)
    }

    static func login(_ result: LoginResult) {
        logins[result]?.increment()
    }
}
