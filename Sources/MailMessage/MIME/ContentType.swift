/// A Content-Type field value (RFC 2045 §5): media type, subtype and
/// parameters. Type and subtype are lowercased (they are case-insensitive);
/// parameter values keep their case (a boundary is case-sensitive).
public struct ContentType: Sendable, Equatable, CustomStringConvertible {
    public var type: String
    public var subtype: String
    public var parameters: MIMEParameters

    public init(type: String, subtype: String, parameters: MIMEParameters = MIMEParameters()) {
        self.type = type.lowercased()
        self.subtype = subtype.lowercased()
        self.parameters = parameters
    }

    /// Parses a field value such as `text/plain; charset="utf-8"`. Returns
    /// nil when there is no valid `type/subtype`; `parameters(parsing:)`
    /// still recovers the parameters of such a value.
    public init?(parsing text: String, limits: MIMELimits = MIMEDefaults.limits) {
        let header = MIMEHeaderValue(parsing: text, limits: limits)
        // type "/" subtype, both RFC 2045 tokens.
        let pieces = header.value.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard pieces.count == 2, Self.isToken(pieces[0]), Self.isToken(pieces[1]) else { return nil }
        self.init(type: String(pieces[0]), subtype: String(pieces[1]),
                  parameters: header.parameters(limits: limits))
    }

    /// The parameters of any Content-Type value, valid media type or not.
    public static func parameters(parsing text: String, limits: MIMELimits = MIMEDefaults.limits) -> MIMEParameters {
        MIMEHeaderValue(parsing: text, limits: limits).parameters(limits: limits)
    }

    /// "type/subtype", lowercased.
    public var mimeType: String { "\(type)/\(subtype)" }

    public var description: String { mimeType }

    /// The charset parameter, lowercased.
    public var charset: String? { parameters["charset"]?.lowercased() }

    /// The multipart boundary, exactly as given.
    public var boundary: String? { parameters["boundary"] }

    /// The (obsolete, RFC 2046 §4.5.1 era) `name` parameter, decoded; mailers
    /// still send it beside Content-Disposition's filename.
    public var name: String? { parameters.parameter("name")?.decodedValue }

    public var isMultipart: Bool { type == "multipart" }
    public var isText: Bool { type == "text" }

    /// A message/rfc822 (or message/global, RFC 6532 §3.7) whose body is a
    /// complete message to be parsed as one.
    public var isEncapsulatedMessage: Bool {
        type == "message" && (subtype == "rfc822" || subtype == "global")
    }

    private static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 < 0x80 && MIMEHeaderScanner.isTokenChar($0) }
    }
}
