/// A domain's MTA-STS policy, the body of
/// `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.2).
public struct MTASTSPolicy: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable {
        /// Refuse MX hosts outside the policy and connections without valid TLS.
        case enforce
        /// Deliver as before, but report what `enforce` would refuse.
        case testing
        /// The domain withdrew its policy.
        case none
    }

    public var mode: Mode
    public var mx: [MXPattern]
    /// Seconds the policy may be cached (§3.2: at most 31557600, one year).
    public var maxAge: Int

    /// §3.2: max_age's largest value.
    public static let maximumMaxAge = 31_557_600

    public init(mode: Mode, mx: [MXPattern], maxAge: Int) {
        self.mode = mode
        self.mx = mx
        self.maxAge = maxAge
    }

    /// §4.1: whether an MX host is allowed to receive the domain's mail.
    public func allows(mxHost host: String) -> Bool {
        mx.contains { $0.matches(host) }
    }
}

public enum MTASTSPolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    case syntax(line: Int, String)
    case missing(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .syntax(let line, let detail): return "policy line \(line): \(detail)"
        case .missing(let key): return "policy has no \(key)"
        case .invalid(let detail): return "invalid policy: \(detail)"
        }
    }
}

extension MTASTSPolicy {
    /// sts-policy-record = sts-policy-field *WSP *(sts-policy-term sts-policy-field *WSP) [sts-policy-term]
    /// sts-policy-field  = key ":" *WSP value; sts-policy-term = LF / CRLF
    ///
    /// Unknown keys are ignored (§3.2); `version`, `mode` and `max_age` must
    /// appear once; `mx` may repeat and is needed unless the mode is `none`.
    public static func parse(_ text: String) throws(MTASTSPolicyError) -> MTASTSPolicy {
        var version: String?
        var mode: Mode?
        var maxAge: Int?
        var mx: [MXPattern] = []
        // Split on LF only: a CR before it belongs to the CRLF terminator.
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.last == "\r" ? String(String.UnicodeScalarView(line.dropLast())) : String(String.UnicodeScalarView(line))
        }
        if lines.last == "" { lines.removeLast() }
        for (offset, raw) in lines.enumerated() {
            let number = offset + 1
            guard let colon = raw.firstIndex(of: ":") else { throw .syntax(line: number, "no ':'") }
            let key = String(raw[..<colon])
            let value = raw[raw.index(after: colon)...].trimmingWSP
            func once<T>(_ slot: inout T?, _ parsed: T?) throws(MTASTSPolicyError) {
                guard slot == nil else { throw .syntax(line: number, "\(key) given twice") }
                guard let parsed else { throw .syntax(line: number, "bad \(key) '\(value)'") }
                slot = parsed
            }
            switch key {
            case "version": try once(&version, value == "STSv1" ? value : nil)
            case "mode": try once(&mode, Mode(rawValue: value))
            case "max_age":
                // sts-policy-max-age-value = 1*10(DIGIT)
                let digits = (1...10).contains(value.utf8.count) && value.utf8.allSatisfy { (0x30...0x39).contains($0) }
                try once(&maxAge, digits ? Int(value) : nil)
            case "mx":
                guard let pattern = MXPattern(value) else { throw .syntax(line: number, "bad mx '\(value)'") }
                mx.append(pattern)
            default:
                continue
            }
        }
        guard version != nil else { throw .missing("version") }
        guard let mode else { throw .missing("mode") }
        guard let maxAge else { throw .missing("max_age") }
        guard maxAge <= maximumMaxAge else { throw .invalid("max_age \(maxAge) is above \(maximumMaxAge)") }
        guard mode == .none || !mx.isEmpty else { throw .missing("mx") }
        return MTASTSPolicy(mode: mode, mx: mx, maxAge: maxAge)
    }
}
