import CoreMetrics
import POP3Core

/// What the POP3 side counts, through the swift-metrics facade (as
/// `SMTPServerMetrics`). Labels take only values from small fixed sets:
/// verbs and login results, never a user, an address or a message.
public enum POP3ServerMetrics {
    /// Name → help text, for the exporter's `# HELP` lines.
    public static let help: [String: String] = [
        "postern_pop3_sessions_total": "POP3 connections accepted.",
        "postern_pop3_connections_refused_total": "POP3 connections refused with -ERR over [limits] max_connections or max_connections_per_ip.",
        "postern_pop3_commands_total": "POP3 commands received, by verb (unrecognized: lines that did not parse or were too long).",
        "postern_pop3_logins_total": "POP3 logins, by result (success, failure, error, throttled).",
        "postern_pop3_messages_retrieved_total": "Messages sent by RETR or TOP.",
        "postern_pop3_messages_deleted_total": "Messages removed at UPDATE (QUIT after DELE).",
        "postern_pop3_sent_bytes_total": "Octets sent to POP3 clients (before TLS encryption).",
    ]

    static let sessions = Counter(label: "postern_pop3_sessions_total")
    static let refused = Counter(label: "postern_pop3_connections_refused_total")
    static let commands: [String: Counter] = Dictionary(uniqueKeysWithValues: POP3Command.verbs.map {
        ($0, Counter(label: "postern_pop3_commands_total", dimensions: [("verb", $0.lowercased())]))
    })
    static let unrecognizedCommands = Counter(label: "postern_pop3_commands_total", dimensions: [("verb", "unrecognized")])
    static let logins: [LoginResult: Counter] = Dictionary(uniqueKeysWithValues: LoginResult.allCases.map {
        ($0, Counter(label: "postern_pop3_logins_total", dimensions: [("result", $0.rawValue)]))
    })
    static let retrieved = Counter(label: "postern_pop3_messages_retrieved_total")
    static let deleted = Counter(label: "postern_pop3_messages_deleted_total")
    static let sentBytes = Counter(label: "postern_pop3_sent_bytes_total")

    enum LoginResult: String, CaseIterable {
        case success, failure, error, throttled
    }

    /// Makes the series that exist from the start, so a scrape shows them
    /// at zero before the first event.
    public static func prepare() {
        _ = (sessions, refused, commands, unrecognizedCommands, logins, retrieved, deleted, sentBytes)
    }

    static func count(_ command: POP3Command) {
        commands[command.verb]?.increment()
    }
}
