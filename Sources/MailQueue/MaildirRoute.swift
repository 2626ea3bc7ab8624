import SMTPCore

/// A `maildir:` route: where local delivery puts a recipient's mail, as a
/// path template, e.g. `"example.org" = "maildir:/var/mail/%d/%u"`.
///
///     %d   the domain, lowercased ("[192.0.2.1]" for an address literal)
///     %u   the local part, unquoted (RFC 5321 §4.1.2), ASCII letters lowercased
///     %a   both, "%u@%d"
///     %%   a "%"
///
/// Local parts are case-sensitive in SMTP (RFC 5321 §2.4), but mailboxes
/// that differ only in case are almost never meant; folding ASCII letters
/// gives Bob@ and bob@ one Maildir, the one the IMAP user "bob@…" opens.
/// Other letters are taken as they are.
///
/// A value goes into a path only if it cannot leave its place in it: no
/// "/", no leading "." (so neither "." nor ".." nor a Maildir++ folder),
/// no NUL or other control character, not empty, at most 255 octets (a
/// file name). Anything else is a bad address (5.1.3), never a path.
public struct MaildirRoute: Sendable, Hashable, CustomStringConvertible {
    public static let scheme = "maildir:"

    public enum TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
        case notMaildir
        case notAbsolute
        case unknownEscape(String)
        case danglingPercent
        case controlCharacter

        public var description: String {
            switch self {
            case .notMaildir: return "a maildir route starts with \"maildir:\""
            case .notAbsolute: return "the maildir path must be absolute, e.g. \"maildir:/var/mail/%d/%u\""
            case .unknownEscape(let text): return "unknown \(text) in the maildir path (expected %d, %u, %a or %%)"
            case .danglingPercent: return "a lone % ends the maildir path (write %% for a %)"
            case .controlCharacter: return "control character in the maildir path"
            }
        }
    }

    public enum AddressError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Not "local@domain" (nor Postmaster).
        case notAnAddress(String)
        /// A part that would not stay one file name in the path.
        case unsafe(part: String, reason: String)

        public var description: String {
            switch self {
            case .notAnAddress(let text): return "not an address: \(text)"
            case .unsafe(let part, let reason): return "\(part) \(reason)"
            }
        }
    }

    enum Piece: Sendable, Hashable {
        case text(String)
        case localPart, domain, address
    }

    /// The path template, after "maildir:".
    public let template: String
    let pieces: [Piece]

    /// `text` is the route's whole value, "maildir:/…".
    public init(parsing text: String) throws(TemplateError) {
        guard text.hasPrefix(Self.scheme) else { throw .notMaildir }
        let template = String(text.dropFirst(Self.scheme.count))
        guard template.hasPrefix("/") else { throw .notAbsolute }
        guard !template.unicodeScalars.contains(where: Self.isControl) else { throw .controlCharacter }
        var pieces: [Piece] = []
        var literal = ""
        var scalars = template.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard scalar == "%" else {
                literal.unicodeScalars.append(scalar)
                continue
            }
            guard let escape = scalars.next() else { throw .danglingPercent }
            let piece: Piece
            switch escape {
            case "%":
                literal.append("%")
                continue
            case "d": piece = .domain
            case "u": piece = .localPart
            case "a": piece = .address
            default: throw .unknownEscape("%" + String(escape))
            }
            if !literal.isEmpty { pieces.append(.text(literal)) }
            literal = ""
            pieces.append(piece)
        }
        if !literal.isEmpty { pieces.append(.text(literal)) }
        self.template = template
        self.pieces = pieces
    }

    public var description: String { Self.scheme + template }

    /// The Maildir of `address` ("bob@example.org", as the queue stores it
    /// and IMAP users log in), or nil if the address is not one this route
    /// can take. Pure: nothing on disk is looked at.
    public func path(for address: String) -> String? {
        try? expand(address)
    }

    /// The Maildir of `address`. `domain` stands in for the domain of an
    /// address without one (`Postmaster`, which is ours: our hostname).
    public func expand(_ address: String, domain fallback: String? = nil) throws(AddressError) -> String {
        let localPart: String
        let domain: String
        if let mailbox = Mailbox(parsing: address) {
            (localPart, domain) = (mailbox.localPart, mailbox.domain.normalized)
        } else if address.lowercased() == "postmaster", let fallback {
            (localPart, domain) = ("postmaster", fallback.lowercased())
        } else {
            throw .notAnAddress(address)
        }
        let user = Self.asciiLowercased(localPart)
        if let reason = Self.unsafeReason(user) { throw .unsafe(part: "local part", reason: reason) }
        if let reason = Self.unsafeReason(domain) { throw .unsafe(part: "domain", reason: reason) }
        return pieces.map { piece in
            switch piece {
            case .text(let text): return text
            case .localPart: return user
            case .domain: return domain
            case .address: return user + "@" + domain
            }
        }.joined()
    }

    /// Why `value` cannot be one file name in a path, or nil if it can.
    static func unsafeReason(_ value: String) -> String? {
        if value.isEmpty { return "is empty" }
        if value.utf8.count > 255 { return "is longer than 255 octets" }
        if value.hasPrefix(".") { return "starts with \".\"" }
        if value.contains("/") { return "contains \"/\"" }
        if value.unicodeScalars.contains(where: isControl) { return "contains a control character" }
        return nil
    }

    /// C0 controls (NUL included) and DEL; "\r\n" is one Character, so
    /// this looks at scalars.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }

    static func asciiLowercased(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
            ("A"..."Z").contains(scalar) ? Unicode.Scalar(scalar.value + 0x20)! : scalar
        }))
    }
}
