import CoreMetrics
import SPF

/// What the policy filters count, through the swift-metrics facade. Labels
/// come from fixed sets (SPF results and identities), never a domain.
public enum PolicyMetrics {
    /// Name → help text, for the exporter's `# HELP` lines.
    public static let help: [String: String] = [
        "postern_spf_results_total": "SPF checks (RFC 7208), by result and identity checked (mailfrom, helo).",
    ]

    static let spfResults: [SPFIdentity: [SPFVerdict: Counter]] = Dictionary(uniqueKeysWithValues:
        [SPFIdentity.mailFrom, .helo].map { identity in
            (identity, Dictionary(uniqueKeysWithValues: SPFVerdict.allCases.map { verdict in
                (verdict, Counter(label: "postern_spf_results_total",
                                  dimensions: [("result", verdict.rawValue), ("identity", identity.rawValue)]))
            }))
        })

    /// Makes every series now, so a scrape shows them from zero.
    public static func prepare() {
        _ = spfResults
    }

    static func count(_ result: SPFResult) {
        spfResults[result.identity]?[result.verdict]?.increment()
    }
}
