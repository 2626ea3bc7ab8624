import CoreMetrics
import Synchronization
import NIOSSL
import SMTPCore

/// What the receiving side counts, through the swift-metrics facade (the
/// daemon decides where it goes; without it every metric is a no-op).
/// Labels take only values from small fixed sets: verbs, reply classes and
/// codes, phases, filter and listener names — never an address or a queue ID.
///
/// Metric objects are made once (statics and per-key caches), so counting
/// an event allocates nothing.
public enum SMTPServerMetrics {
    /// Name → help text, for the exporter's `# HELP` lines.
    public static let help: [String: String] = [
        "postern_smtp_connections_total": "SMTP connections accepted, by listener.",
        "postern_smtp_connections_open": "SMTP connections open now, by listener.",
        "postern_smtp_connections_refused_total": "SMTP connections refused with 421 over the connection limits, by listener and reason.",
        "postern_smtp_commands_total": "SMTP commands received, by verb (unrecognized: lines that did not parse).",
        "postern_smtp_replies_total": "SMTP replies sent, by class (2xx..5xx) and enhanced status code (none: without one).",
        "postern_smtp_messages_accepted_total": "Messages committed to the queue and answered 250, by disposition (queued, quarantined, discarded: answered 250 and dropped by a scanner's discard action).",
        "postern_smtp_messages_refused_total": "Refusals by phase, filter (smtp: the protocol checks, queue: a failed commit) and class (temporary, permanent); rcpt counts recipients.",
        "postern_smtp_received_bytes_total": "Octets received from SMTP clients (after TLS decryption).",
        "postern_smtp_sent_bytes_total": "Octets of SMTP replies sent (before TLS encryption).",
        "postern_smtp_tls_handshakes_total": "STARTTLS handshakes, by result and negotiated TLS version.",
        "postern_smtp_auth_attempts_total": "SMTP AUTH attempts, by result (success, failure, error, throttled).",
        "postern_dkim_signatures_total": "DKIM signatures added to received messages, by result (signed, failed: left unsigned).",
        "postern_smtp_stress_mode": "1 while the connection table is nearly full and session timers are shortened, else 0.",
    ]

    static let commandVerbs = ["HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN",
                               "HELP", "STARTTLS", "AUTH"]
    static let commands: [String: Counter] = Dictionary(uniqueKeysWithValues: commandVerbs.map {
        ($0, Counter(label: "postern_smtp_commands_total", dimensions: [("verb", $0.lowercased())]))
    })
    static let unrecognizedCommands = Counter(label: "postern_smtp_commands_total", dimensions: [("verb", "unrecognized")])
    static let receivedBytes = Counter(label: "postern_smtp_received_bytes_total")
    static let sentBytes = Counter(label: "postern_smtp_sent_bytes_total")
    static let queued = Counter(label: "postern_smtp_messages_accepted_total", dimensions: [("disposition", "queued")])
    static let quarantined = Counter(label: "postern_smtp_messages_accepted_total", dimensions: [("disposition", "quarantined")])
    static let discarded = Counter(label: "postern_smtp_messages_accepted_total", dimensions: [("disposition", "discarded")])
    static let dkimSigned = Counter(label: "postern_dkim_signatures_total", dimensions: [("result", "signed")])
    static let dkimFailed = Counter(label: "postern_dkim_signatures_total", dimensions: [("result", "failed")])
    static let stressMode = Meter(label: "postern_smtp_stress_mode")
    static let replies = CounterFamily<ReplyKey>(label: "postern_smtp_replies_total") { key in
        [("class", "\(key.klass)xx"), ("enhanced", key.enhanced?.description ?? "none")]
    }
    static let refusals = CounterFamily<RefusalKey>(label: "postern_smtp_messages_refused_total") { key in
        [("phase", key.phase), ("filter", key.filter), ("class", key.temporary ? "temporary" : "permanent")]
    }
    static let tlsHandshakes = CounterFamily<TLSKey>(label: "postern_smtp_tls_handshakes_total") { key in
        [("result", key.success ? "success" : "failure"), ("version", key.version)]
    }
    static let auth: [AuthResult: Counter] = Dictionary(uniqueKeysWithValues: AuthResult.allCases.map {
        ($0, Counter(label: "postern_smtp_auth_attempts_total", dimensions: [("result", $0.rawValue)]))
    })

    enum AuthResult: String, CaseIterable {
        case success, failure, error, throttled
    }

    struct ReplyKey: Hashable, Sendable {
        var klass: Int
        var enhanced: EnhancedStatusCode?
    }

    struct RefusalKey: Hashable, Sendable {
        var phase: String
        var filter: String
        var temporary: Bool
    }

    struct TLSKey: Hashable, Sendable {
        var success: Bool
        var version: String
    }

    /// Makes the series that exist from the start, so a scrape shows them at
    /// zero before the first event (rate() and alerts need a starting point).
    public static func prepare() {
        _ = (commands, unrecognizedCommands, receivedBytes, sentBytes, queued, quarantined, discarded, auth)
        stressMode.set(0)
    }

    static func count(_ command: SMTPCommand) {
        commands[command.verb]?.increment()
    }

    static func count(_ reply: SMTPReply) {
        replies.increment(ReplyKey(klass: reply.code / 100, enhanced: reply.enhanced))
    }

    static func countRefusal(_ reply: SMTPReply, phase: String, filter: String) {
        refusals.increment(RefusalKey(phase: phase, filter: filter, temporary: reply.isTransient))
    }
}

/// One labelled metric whose label values are learned as events come: each
/// combination's counter is made the first time and kept. Only for keys from
/// small fixed sets (the label values must stay few).
final class CounterFamily<Key: Hashable & Sendable>: Sendable {
    private let label: String
    private let dimensions: @Sendable (Key) -> [(String, String)]
    private let counters = Mutex<[Key: Counter]>([:])

    init(label: String, dimensions: @escaping @Sendable (Key) -> [(String, String)]) {
        self.label = label
        self.dimensions = dimensions
    }

    func increment(_ key: Key, by amount: Int = 1) {
        counter(key).increment(by: amount)
    }

    func counter(_ key: Key) -> Counter {
        counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: label, dimensions: dimensions(key))
            counters[key] = counter
            return counter
        }
    }
}

/// One listener's connection series, made once when it binds.
struct ListenerMetrics: Sendable {
    let accepted: Counter
    let open: Meter
    private let refusedTotal: Counter
    private let refusedFromAddress: Counter
    /// Closed unanswered: not from a configured load balancer, or no valid
    /// PROXY header in time.
    let proxyHeaderRefused: Counter

    /// `listener` is its address as configured, `HOST:PORT` or `[V6]:PORT`.
    init(listener: String) {
        let name = ("listener", listener)
        accepted = Counter(label: "postern_smtp_connections_total", dimensions: [name])
        open = Meter(label: "postern_smtp_connections_open", dimensions: [name])
        refusedTotal = Counter(label: "postern_smtp_connections_refused_total", dimensions: [name, ("reason", "total_limit")])
        refusedFromAddress = Counter(label: "postern_smtp_connections_refused_total",
                                     dimensions: [name, ("reason", "address_limit")])
        proxyHeaderRefused = Counter(label: "postern_smtp_connections_refused_total", dimensions: [name, ("reason", "proxy_header")])
    }

    func refused(_ refusal: ConnectionLimiter.Refusal) {
        switch refusal {
        case .tooManyConnections: refusedTotal.increment()
        case .tooManyFromAddress: refusedFromAddress.increment()
        }
    }
}

extension SMTPServerMetrics {
    /// A STARTTLS handshake ended, with the version agreed when it succeeded.
    static func countHandshake(success: Bool, version: TLSVersion?) {
        let name: String
        switch version {
        case .tlsv1: name = "1.0"
        case .tlsv11: name = "1.1"
        case .tlsv12: name = "1.2"
        case .tlsv13: name = "1.3"
        case nil: name = "none"
        }
        tlsHandshakes.increment(TLSKey(success: success, version: name))
    }
}
