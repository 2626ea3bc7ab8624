import CoreMetrics

/// What scanning counts. Labels: the scanner's configured name (from the
/// policy, a fixed set) and a fixed set of results.
public enum ScanMetrics {
    public static let help: [String: String] = [
        "postern_scans_total": "Content scans, by scanner and result (clean, infected, ham, spam, too_large, skipped, error, breaker_open).",
        "postern_scan_duration_seconds": "Time one scanner took for one message.",
        "postern_scanner_breaker_open": "1 while a scanner's circuit breaker is open (its on_error answer is given without asking it).",
    ]

    static func count(scanner: String, result: String) {
        Counter(label: "postern_scans_total", dimensions: [("scanner", scanner), ("result", result)]).increment()
    }

    static func duration(scanner: String, nanoseconds: Int64) {
        Timer(label: "postern_scan_duration_seconds", dimensions: [("scanner", scanner)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(nanoseconds)
    }

    static func breaker(scanner: String, open: Bool) {
        Gauge(label: "postern_scanner_breaker_open", dimensions: [("scanner", scanner)]).record(open ? 1 : 0)
    }
}
