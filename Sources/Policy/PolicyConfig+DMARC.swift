extension PolicyConfig {
    /// `[dmarc]`: DKIM verification and DMARC (RFC 7489) for mail coming in
    /// from the world (the MX listener's policy). Submissions that
    /// authenticated or come from trusted networks are outbound: skipped.
    public struct DMARCSettings: Sendable, Equatable {
        /// What a DMARC failure gets when the domain asks for it.
        public enum Action: String, Sendable, Equatable, CaseIterable {
            /// 550 5.7.1 (RFC 7489 §6.6.4 "reject").
            case reject
            /// Held in the quarantine.
            case quarantine
            /// Delivered; only the Authentication-Results field says it failed.
            case tag
        }

        public var enabled = false
        /// For a failure under `p=reject`.
        public var onReject = Action.reject
        /// For a failure under `p=quarantine` (or `p=reject` spared by `pct`).
        public var onQuarantine = Action.quarantine
        /// The Public Suffix List, read at start (and on reload).
        public var publicSuffixList = "/usr/share/publicsuffix/public_suffix_list.dat"
        /// The authserv-id of Authentication-Results; nil: the hostname.
        public var authservID: String?
        public var skipTrusted = true
        public var skipAuthenticated = true

        public init() {}
    }
}
