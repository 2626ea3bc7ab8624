/// One Authentication-Results field value
/// ([RFC 8601 §2.2](https://www.rfc-editor.org/rfc/rfc8601#section-2.2)):
/// `authserv-id; method=result [reason] ptype.property=value …; …`, or
/// `authserv-id; none` when nothing was checked. Values coming from the
/// message or the client are quoted, so they cannot add results of their own.
public struct AuthenticationResults: Sendable, Hashable {
    public struct Property: Sendable, Hashable {
        /// `ptype.property`, e.g. `header.d`, `smtp.mailfrom`.
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// resinfo = [CFWS] ";" methodspec [CFWS reasonspec] [CFWS 1*propspec] (§2.2).
    public struct Method: Sendable, Hashable {
        public var name: String
        public var result: String
        public var comment: String?
        public var reason: String?
        public var properties: [Property]

        public init(name: String, result: String, comment: String? = nil, reason: String? = nil, properties: [Property] = []) {
            self.name = name
            self.result = result
            self.comment = comment
            self.reason = reason
            self.properties = properties
        }
    }

    public var authservID: String
    public var methods: [Method]

    public init(authservID: String, methods: [Method]) {
        self.authservID = authservID
        self.methods = methods
    }

    /// The field's value, unfolded (the header writer folds it).
    public var value: String {
        guard !methods.isEmpty else { return "\(Self.value(authservID)); none" }
        let parts = methods.map { method -> String in
            var text = "\(method.name)=\(method.result)"
            if let comment = method.comment { text += " (\(Self.commentSafe(comment)))" }
            if let reason = method.reason { text += " reason=\(Self.quotedString(reason))" }
            for property in method.properties { text += " \(property.name)=\(Self.value(property.value))" }
            return text
        }
        return ([Self.value(authservID)] + parts).joined(separator: "; ")
    }

    /// value = token / quoted-string (RFC 2045 §5.1); a pvalue may also be
    /// `local-part@domain` (§2.2), so "@" stays bare.
    static func value(_ text: String) -> String {
        let tspecials = Set("()<>,;:\\\"/[]?=".unicodeScalars)
        let bare = !text.isEmpty && text.unicodeScalars.allSatisfy {
            $0.value > 0x20 && $0.value < 0x7F && !tspecials.contains($0)
        }
        return bare ? text : quotedString(text)
    }

    /// A quoted-string (RFC 5322 §3.2.4); control characters become spaces
    /// (scalars, not Characters: "\r\n" is one Character and would slip past).
    public static func quotedString(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        out.append("\"")
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F { out.append(" "); continue }
            if scalar == "\"" || scalar == "\\" { out.append("\\") }
            out.append(scalar)
        }
        out.append("\"")
        return String(out)
    }

    /// Comment text without parentheses, backslashes or control characters.
    public static func commentSafe(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.value < 0x20 || $0.value == 0x7F || "()\\".unicodeScalars.contains($0) ? "_" : $0
        }))
    }
}

extension AuthenticationResults.Method {
    /// `dmarc=fail (p=reject dis=reject) header.from=example.com` (RFC 7489 §11.2).
    public static func dmarc(_ result: DMARCResult) -> Self {
        var comment: String?
        if let policy = result.requestedPolicy {
            comment = "p=\(policy.rawValue) dis=\(result.disposition.rawValue)"
        } else if let reason = result.reason {
            comment = reason
        }
        let properties = result.fromDomain.map { [AuthenticationResults.Property("header.from", $0)] } ?? []
        return Self(name: "dmarc", result: result.verdict.rawValue, comment: comment, properties: properties)
    }
}
