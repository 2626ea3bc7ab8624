import SMTPCore

/// What the next hop announced in its EHLO reply (RFC 5321 §4.1.1.1): one
/// extension per line after the first, "KEYWORD [params]". A server greeted
/// with HELO announces nothing.
public struct ServerCapabilities: Sendable, Hashable {
    /// The extension keywords, upper-cased, with their parameters as sent.
    public private(set) var extensions: [String: [String]] = [:]

    public init() {}

    /// Reads the EHLO reply; the first line is the server's name and greeting.
    public init(ehloReply: SMTPReply) {
        for line in ehloReply.lines.dropFirst() {
            // Old servers send "AUTH=LOGIN PLAIN"; treat '=' after AUTH like a space.
            let normalized = line.uppercased().hasPrefix("AUTH=") ? "AUTH " + line.dropFirst(5) : line
            let words = normalized.split(separator: " ", omittingEmptySubsequences: true)
            guard let keyword = words.first?.uppercased() else { continue }
            let params = words.dropFirst().map(String.init)
            extensions[keyword, default: []].append(contentsOf: params)
        }
    }

    public func supports(_ keyword: String) -> Bool { extensions[keyword.uppercased()] != nil }

    public var pipelining: Bool { supports("PIPELINING") }
    public var startTLS: Bool { supports("STARTTLS") }
    public var eightBitMIME: Bool { supports("8BITMIME") }
    public var smtpUTF8: Bool { supports("SMTPUTF8") }
    public var enhancedStatusCodes: Bool { supports("ENHANCEDSTATUSCODES") }
    /// DSN (RFC 3461): the server takes NOTIFY, ORCPT, RET and ENVID and
    /// reports on delivery from then on.
    public var dsn: Bool { supports("DSN") }

    /// SIZE is offered (RFC 1870 §4); MAIL may then carry SIZE=.
    public var size: Bool { supports("SIZE") }

    /// The fixed message size limit, nil when none is announced ("SIZE" or "SIZE 0").
    public var maxMessageSize: Int? {
        guard let value = extensions["SIZE"]?.first.flatMap({ Int($0) }), value > 0 else { return nil }
        return value
    }

    /// AUTH mechanisms offered (RFC 4954 §3), upper-cased.
    public var authMechanisms: Set<String> {
        Set((extensions["AUTH"] ?? []).map { $0.uppercased() })
    }
}
