import Foundation

/// One content scanner back end (clamd, libclamav, spamd, rspamd). A scan
/// reads the message as a stream from the spool (`MessageSource`), never
/// whole in memory, and never changes it: what a scanner wants added goes
/// back in its verdict.
public protocol ContentScanner: Sendable {
    /// "clamd", "clamav", "spamd", "rspamd": names the back end in logs.
    var kind: String { get }
    func scan(_ request: ScanRequest) async -> ScanVerdict
    /// A cheap liveness check (clamd zPING, spamd PING, rspamd /ping).
    func ping() async -> Bool
}

/// The message and what the session knows about it; spam scanners weigh
/// the envelope (rspamd's IP, Helo, From, Rcpt headers; spamd's User).
public struct ScanRequest: Sendable {
    public var message: MessageSource
    public var clientIP: String?
    public var helo: String?
    /// The reverse-path without brackets; "" is the null sender.
    public var sender: String
    public var recipients: [String]
    public var queueID: String?
    /// The SMTP-AUTH identity (RFC 4954), if the client logged in.
    public var user: String?
    /// Our host name (rspamd's Hostname header).
    public var hostname: String?

    public init(message: MessageSource, clientIP: String? = nil, helo: String? = nil, sender: String = "",
                recipients: [String] = [], queueID: String? = nil, user: String? = nil, hostname: String? = nil) {
        self.message = message
        self.clientIP = clientIP
        self.helo = helo
        self.sender = sender
        self.recipients = recipients
        self.queueID = queueID
        self.user = user
        self.hostname = hostname
    }
}

/// A spam scanner's judgement (SpamAssassin's or rspamd's).
public struct SpamReport: Sendable, Equatable {
    /// rspamd's suggested actions (its `action` field), SpamAssassin's mapped
    /// onto them (spam → add header, ham → no action).
    public enum Action: String, Sendable, Equatable {
        case noAction = "no action"
        case greylist
        case addHeader = "add header"
        case rewriteSubject = "rewrite subject"
        case softReject = "soft reject"
        case reject
    }

    public var score: Double
    /// The score at which the scanner calls it spam (spamd's threshold,
    /// rspamd's required_score).
    public var threshold: Double
    public var isSpam: Bool
    /// Names of the rules that hit, sorted.
    public var symbols: [String]
    public var action: Action
    /// Fields the scanner asks to add (rspamd milter.add_headers), in order.
    public var addHeaders: [(name: String, value: String)]
    /// Fields the scanner asks to remove (rspamd milter.remove_headers).
    public var removeHeaders: [String]
    /// A subject the scanner wrote (rspamd's rewrite subject), if any.
    public var subject: String?

    public init(score: Double, threshold: Double, isSpam: Bool, symbols: [String] = [], action: Action = .noAction,
                addHeaders: [(name: String, value: String)] = [], removeHeaders: [String] = [], subject: String? = nil) {
        self.score = score
        self.threshold = threshold
        self.isSpam = isSpam
        self.symbols = symbols
        self.action = action
        self.addHeaders = addHeaders
        self.removeHeaders = removeHeaders
        self.subject = subject
    }

    /// Rule names are identifiers (GTUBE, BAYES_99, R_SPF_ALLOW): anything
    /// else a scanner sends is dropped, as it would go into a header field.
    static func isSymbol(_ name: Substring) -> Bool {
        !name.isEmpty && name.utf8.count <= 128
            && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: ";") }
    }

    /// A score a scanner could mean: finite and of sane size ("nan" and
    /// "1e999" parse as Doubles, and neither compares or prints sensibly).
    static func isPlausible(_ score: Double) -> Bool {
        score.isFinite && abs(score) < 1_000_000
    }

    public static func == (lhs: SpamReport, rhs: SpamReport) -> Bool {
        lhs.score == rhs.score && lhs.threshold == rhs.threshold && lhs.isSpam == rhs.isSpam && lhs.symbols == rhs.symbols
            && lhs.action == rhs.action && lhs.removeHeaders == rhs.removeHeaders && lhs.subject == rhs.subject
            && lhs.addHeaders.elementsEqual(rhs.addHeaders) { $0.name == $1.name && $0.value == $1.value }
    }
}

/// What one scanner said about one message.
public enum ScanVerdict: Sendable, Equatable {
    case clean
    /// A virus scanner found something; the name as the scanner gives it.
    case infected(name: String)
    /// A spam scanner's score (ham or spam: see `SpamReport.isSpam`).
    case scored(SpamReport)
    /// The message is larger than the scanner accepts (clamd's
    /// StreamMaxLength): not scanned, but the scanner is healthy.
    case tooLarge(String)
    /// No verdict: the scanner failed, timed out or answered nonsense.
    case error(String)

    /// For logs and `postern scan`: "clean", "infected NAME", "spam 7.1/5.0" …
    public var summary: String {
        switch self {
        case .clean: return "clean"
        case .infected(let name): return "infected \(name)"
        case .scored(let report):
            return "\(report.isSpam ? "spam" : "ham") \(Self.score(report.score))/\(Self.score(report.threshold))"
                + (report.action == .noAction || report.action == .addHeader ? "" : " " + report.action.rawValue.replacingOccurrences(of: " ", with: "_"))
        case .tooLarge(let why): return "too large (\(why))"
        case .error(let why): return "error (\(why))"
        }
    }

    /// One decimal, as SpamAssassin writes scores.
    public static func score(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        let whole = Int(tenths) / 10, fraction = abs(Int(tenths) % 10)
        return (tenths < 0 && whole == 0 ? "-" : "") + "\(whole).\(fraction)"
    }
}
