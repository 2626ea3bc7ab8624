import DMARC
import DNSModel
import SMTPCore
import SPF

/// The trace fields for an SPF result: Received-SPF (RFC 7208 §9.1) and
/// Authentication-Results (RFC 8601 §2.7.2). Values only, without the
/// field names; every client-supplied text is quoted.
struct SPFHeaders {
    let result: SPFResult
    let ip: IPAddress
    let helo: String?
    let sender: ReversePath
    let receiver: String

    /// e.g. `pass (relay.example: domain of a@example.org designates
    /// 192.0.2.1 as permitted sender) client-ip=192.0.2.1; …`
    var receivedSPF: String {
        let identityText = result.identity == .helo ? "postmaster@\(result.domain)" : senderText
        let comment: String
        switch result.verdict {
        case .pass: comment = "domain of \(identityText) designates \(ip) as permitted sender"
        case .fail: comment = "domain of \(identityText) does not designate \(ip) as permitted sender"
        case .softfail: comment = "transitioning domain of \(identityText) does not designate \(ip) as permitted sender"
        case .neutral: comment = "\(ip) is neither permitted nor denied by domain of \(identityText)"
        case .none: comment = "domain of \(identityText) does not designate permitted sender hosts"
        case .temperror: comment = "error in processing during lookup of \(identityText)"
        case .permerror: comment = "permanent error in processing domain of \(identityText)"
        }
        var pairs = [
            "client-ip=\(ip)",
            "envelope-from=\(Self.quoted(senderText))",
            "helo=\(Self.quoted(helo ?? ""))",
            "receiver=\(Self.quoted(receiver))",
            "identity=\(result.identity.rawValue)",
        ]
        let key = result.verdict == .temperror || result.verdict == .permerror ? "problem" : "mechanism"
        pairs.append("\(key)=\(Self.quoted(result.decidedBy))")
        return "\(result.verdict.rawValue) (\(receiver): \(Self.commentSafe(comment))) " + pairs.joined(separator: "; ")
    }

    /// e.g. `relay.example; spf=pass smtp.mailfrom=example.org`
    var authenticationResults: String {
        AuthenticationResults(authservID: receiver, methods: [.spf(result)]).value
    }

    private var senderText: String { sender.spfAddress }

    /// A dot-atom stays as it is; anything else becomes a quoted-string
    /// (RFC 5322 §3.2.4), so a hostile HELO cannot add key=value pairs.
    static func quoted(_ text: String) -> String {
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.".unicodeScalars)
        if !text.isEmpty, text.unicodeScalars.allSatisfy({ atext.contains($0) }), !text.hasPrefix("."), !text.hasSuffix(".") {
            return text
        }
        return AuthenticationResults.quotedString(text)
    }

    /// Comments may not hold parentheses, backslashes or control characters.
    static func commentSafe(_ text: String) -> String { AuthenticationResults.commentSafe(text) }
}

extension AuthenticationResults.Method {
    /// `spf=pass smtp.mailfrom=example.org` (RFC 8601 §2.7.2), or `smtp.helo`.
    static func spf(_ result: SPFResult) -> Self {
        let property = result.identity == .helo ? "smtp.helo" : "smtp.mailfrom"
        return Self(name: "spf", result: result.verdict.rawValue, properties: [AuthenticationResults.Property(property, result.domain)])
    }
}

extension ReversePath {
    /// MAIL FROM as SPF takes it: local-part@domain, unquoted; empty for <>.
    var spfAddress: String { mailbox.map { "\($0.localPart)@\($0.domain)" } ?? "" }
}
