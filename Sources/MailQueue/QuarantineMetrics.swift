import CoreMetrics

/// What the quarantine counts, through the swift-metrics facade: messages
/// moved in, released and deleted as it happens, and the Maildir's size
/// when the exporter asks (`record`).
public enum QuarantineMetrics {
    public enum Action: String, Sendable, CaseIterable {
        case quarantined, released, deleted
    }

    /// Name → help text, for the exporter's `# HELP` lines.
    public static let help: [String: String] = [
        "postern_quarantine_actions_total":
            "Messages moved into the quarantine Maildir, released from it to the queue, or deleted from it, by action.",
        "postern_quarantine_messages": "Messages in the quarantine Maildir (new/ and cur/) at the last scrape.",
    ]

    static let actions: [Action: Counter] = Dictionary(uniqueKeysWithValues: Action.allCases.map {
        ($0, Counter(label: "postern_quarantine_actions_total", dimensions: [("action", $0.rawValue)]))
    })
    static let messages = Meter(label: "postern_quarantine_messages")

    /// Makes the series that exist from the start, so a scrape shows them at zero.
    public static func prepare() {
        _ = (actions, messages)
    }

    public static func count(_ action: Action) {
        actions[action]?.increment()
    }

    /// Sets the gauge from the Maildir as it is now.
    public static func record(_ maildir: QuarantineMaildir) {
        if let entries = try? maildir.entries() { messages.set(entries.count) }
    }
}
