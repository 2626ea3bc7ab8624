import Foundation
import Policy

extension TableReader {
    /// `[dmarc]`: enabled, on_reject, on_quarantine, public_suffix_list,
    /// authserv_id, skip_trusted, skip_authenticated.
    mutating func readDMARC(_ dmarc: TOMLTable, into policy: inout PolicyConfig) {
        let prefix = "dmarc."
        checkKeys(dmarc, allowed: ["enabled", "on_reject", "on_quarantine", "public_suffix_list", "authserv_id",
                                   "skip_trusted", "skip_authenticated"], prefix: prefix)
        policy.dmarc.enabled = bool(dmarc, "enabled", prefix: prefix) ?? true
        if let value = bool(dmarc, "skip_trusted", prefix: prefix) { policy.dmarc.skipTrusted = value }
        if let value = bool(dmarc, "skip_authenticated", prefix: prefix) { policy.dmarc.skipAuthenticated = value }
        typealias Action = PolicyConfig.DMARCSettings.Action
        if let text = string(dmarc, "on_reject", prefix: prefix) {
            if let action = Action(rawValue: text) { policy.dmarc.onReject = action }
            else { issue(dmarc, "on_reject", "must be one of: reject, quarantine, tag", prefix: prefix) }
        }
        if let text = string(dmarc, "on_quarantine", prefix: prefix) {
            // A domain asking for quarantine is not asking for a refusal.
            if let action = Action(rawValue: text), action != .reject { policy.dmarc.onQuarantine = action }
            else { issue(dmarc, "on_quarantine", "must be one of: quarantine, tag", prefix: prefix) }
        }
        if let id = string(dmarc, "authserv_id", prefix: prefix) {
            let valid = !id.isEmpty && id.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && !";()\"\\".unicodeScalars.contains($0) }
            if valid { policy.dmarc.authservID = id } else { issue(dmarc, "authserv_id", "must be a host name", prefix: prefix) }
        }
        if let path = string(dmarc, "public_suffix_list", prefix: prefix) { policy.dmarc.publicSuffixList = path }
        if policy.dmarc.enabled, !FileManager.default.isReadableFile(atPath: policy.dmarc.publicSuffixList) {
            issue(dmarc, "public_suffix_list",
                  "cannot read \(policy.dmarc.publicSuffixList) (Debian: apt-get install publicsuffix)", prefix: prefix)
        }
    }
}
