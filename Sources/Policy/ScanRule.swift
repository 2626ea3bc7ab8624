import Foundation

/// One `[[scan]]` table of a policy file: which content scanner to ask and
/// what its verdicts get. Plain data; the Scanning target builds the
/// scanner from it.
public struct ScanRule: Sendable, Equatable {
    public enum Backend: String, Sendable, CaseIterable {
        case clamd, clamav, spamd, rspamd

        /// Virus scanners answer clean or infected; spam scanners a score.
        public var isVirusScanner: Bool { self == .clamd || self == .clamav }
    }

    /// What an infected message gets.
    public enum VirusAction: String, Sendable, CaseIterable {
        /// 554 5.7.1 naming the virus (the default).
        case reject
        case quarantine
        /// 250 to the client, then dropped (Postfix's DISCARD): only for
        /// mail nobody must be told about, since the sender learns nothing.
        case discard
    }

    /// What a scanner failure or timeout gets.
    public enum ErrorAction: String, Sendable, CaseIterable {
        /// 451 4.7.1: the client retries later (the default for virus scanners).
        case tempfail
        /// Accepted with a header saying it was not scanned (the default for spam scanners).
        case accept
    }

    public var backend: Backend
    /// For logs and headers; defaults to the back end's name.
    public var name: String
    /// Unix socket path or HOST:PORT (clamd, spamd, rspamd).
    public var address: String?
    /// The signature directory (in-process ClamAV).
    public var database: String?
    /// Scan threads (in-process ClamAV); nil: one per core.
    public var threads: Int?
    public var timeoutSeconds: Double
    /// Larger messages are not sent to this scanner; they get a header saying so.
    public var maxSize: Int?
    /// Messages in flight to this scanner at once; more wait (within the timeout).
    public var maxInFlight: Int
    public var onError: ErrorAction
    public var virus = VirusAction.reject
    /// Spam scanners: X-Spam-Flag YES (and the subject tag) at or above;
    /// nil: the scanner's own threshold.
    public var tagScore: Double?
    public var quarantineScore: Double?
    public var rejectScore: Double?
    /// Prepended to the Subject of spam at or above the tag score (e.g. "[SPAM]").
    public var subjectTag: String?
    /// rspamd: follow its suggested action (reject, soft reject, greylist,
    /// rewrite subject, add header) besides the scores above.
    public var useScannerAction = true
    /// spamd's User header.
    public var user: String?
    /// Circuit breaker: after this many failures in a row the scanner is not
    /// asked for `coolDownSeconds`; then one probe decides.
    public var failureLimit = 5
    public var coolDownSeconds = 30.0

    public init(backend: Backend, name: String? = nil) {
        self.backend = backend
        self.name = name ?? backend.rawValue
        timeoutSeconds = backend.isVirusScanner ? 30 : 15
        onError = backend.isVirusScanner ? .tempfail : .accept
        // clamd runs 10 threads by default; spamd forks 5 children (we start
        // it with fewer); rspamd is asynchronous.
        switch backend {
        case .clamd: maxInFlight = 10
        // Two per scan thread: one scanning, one ready (more would only wait
        // in the pool's queue and time out there).
        case .clamav: maxInFlight = 2 * ProcessInfo.processInfo.activeProcessorCount
        case .spamd: maxInFlight = 4
        case .rspamd: maxInFlight = 32
        }
        // spamc's default limit is 500 KB: big mail is rarely spam and slow to score.
        switch backend {
        case .spamd: maxSize = 512 * 1024
        case .rspamd: maxSize = 20 * 1024 * 1024
        case .clamd, .clamav: maxSize = nil
        }
    }
}
