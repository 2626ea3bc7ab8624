/// The domain part of a mailbox: a name or an address literal (RFC 5321 §4.1.3).
public enum MailDomain: Sendable, Hashable, CustomStringConvertible {
    /// A domain name as written (may be a U-label per RFC 6531).
    case name(String)
    /// The text between the brackets: "192.0.2.1", "IPv6:2001:db8::1", "tag:text".
    case literal(String)

    public var description: String {
        switch self {
        case .name(let name): return name
        case .literal(let text): return "[\(text)]"
        }
    }

    /// Lowercased name for comparisons (ASCII case-insensitive, RFC 5321 §2.4).
    public var normalized: String {
        switch self {
        case .name(let name): return name.lowercased()
        case .literal(let text): return "[\(text.lowercased())]"
        }
    }
}

/// A mailbox, local-part "@" domain (RFC 5321 §4.1.2).
public struct Mailbox: Sendable, Hashable, CustomStringConvertible {
    /// The local part with quoting removed and quoted pairs resolved.
    public var localPart: String
    public var domain: MailDomain

    public init(localPart: String, domain: MailDomain) {
        self.localPart = localPart
        self.domain = domain
    }

    /// True when any part holds non-ASCII text (needs SMTPUTF8, RFC 6531).
    public var isInternationalized: Bool {
        localPart.utf8.contains { $0 >= 0x80 } || domain.description.utf8.contains { $0 >= 0x80 }
    }

    /// The local part as it must be written on the wire: a dot-string when
    /// possible, otherwise a quoted string.
    public var encodedLocalPart: String {
        if Self.isDotString(localPart) { return localPart }
        var quoted = "\""
        for scalar in localPart.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { quoted.append("\\") }
            quoted.unicodeScalars.append(scalar)
        }
        return quoted + "\""
    }

    public var description: String { "\(encodedLocalPart)@\(domain)" }

    /// Reads back an address as `description` writes it (and the queue
    /// stores it): "local@domain", the local part quoted where it must be.
    /// Nil for anything RCPT TO would refuse, a source route included.
    public init?(parsing address: String) {
        guard !address.hasPrefix("@") else { return nil }
        let bytes = Array("<\(address)>".utf8)
        var index = 0
        guard case .mailbox(let mailbox)? = try? PathGrammar.parsePath(bytes, &index, kind: .forward),
              index == bytes.count else { return nil }
        self = mailbox
    }

    static func isDotString(_ text: String) -> Bool {
        let atoms = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return !text.isEmpty && atoms.allSatisfy { atom in !atom.isEmpty && atom.allSatisfy(PathGrammar.isAtext) }
    }
}

/// MAIL FROM's argument: a mailbox or the null reverse-path "<>" used by
/// bounces (RFC 5321 §4.5.5).
public enum ReversePath: Sendable, Hashable, CustomStringConvertible {
    case null
    case mailbox(Mailbox)

    public var mailbox: Mailbox? {
        if case .mailbox(let mailbox) = self { return mailbox }
        return nil
    }

    /// "<>" or "<local@domain>".
    public var description: String {
        switch self {
        case .null: return "<>"
        case .mailbox(let mailbox): return "<\(mailbox)>"
        }
    }
}

/// RCPT TO's argument: a mailbox, or the bare "<Postmaster>" every server
/// must accept (RFC 5321 §4.1.1.3).
public enum ForwardPath: Sendable, Hashable, CustomStringConvertible {
    case postmaster
    case mailbox(Mailbox)

    public var description: String {
        switch self {
        case .postmaster: return "<Postmaster>"
        case .mailbox(let mailbox): return "<\(mailbox)>"
        }
    }

    /// The address without angle brackets.
    public var address: String {
        switch self {
        case .postmaster: return "Postmaster"
        case .mailbox(let mailbox): return mailbox.description
        }
    }
}
