/// The values of the DSN extension's parameters (RFC 3461 §4): RET and
/// ENVID on MAIL, NOTIFY and ORCPT on RCPT. Parsed here, stored in the
/// queue, passed on to a next hop that offers DSN, and obeyed when Postern
/// writes a DSN itself.

/// RET= (RFC 3461 §4.3): what a failure DSN returns of the message.
public enum DSNReturn: String, Sendable, Hashable, CaseIterable {
    /// The whole message.
    case full = "FULL"
    /// Only its header section.
    case headers = "HDRS"

    init(parameter value: String?) throws(MailParameters.ParameterError) {
        guard let value, let ret = DSNReturn(rawValue: value.uppercased()) else {
            throw .invalid("RET", "expected FULL or HDRS")
        }
        self = ret
    }
}

/// NOTIFY= (RFC 3461 §4.1): which DSNs the sender wants for one recipient.
/// The empty set is NEVER.
///
///     notify-esmtp-value  = "NEVER" / 1#notify-list-element
///     notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"
public struct DSNNotify: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let success = DSNNotify(rawValue: 1)
    public static let failure = DSNNotify(rawValue: 2)
    public static let delay = DSNNotify(rawValue: 4)
    public static let never: DSNNotify = []

    private static let names: [(String, DSNNotify)] = [("SUCCESS", .success), ("FAILURE", .failure), ("DELAY", .delay)]

    /// Parses the value, keywords case-insensitive; a keyword twice, an
    /// unknown one, or NEVER beside another is refused.
    public init(parameter value: String?) throws(MailParameters.ParameterError) {
        guard let value else { throw .invalid("NOTIFY", "expected NEVER or SUCCESS, FAILURE, DELAY") }
        let words = value.uppercased().split(separator: ",", omittingEmptySubsequences: false)
        if words == ["NEVER"] {
            self = .never
            return
        }
        var notify: DSNNotify = []
        for word in words {
            if word == "NEVER" { throw .invalid("NOTIFY", "NEVER cannot be combined with SUCCESS, FAILURE or DELAY") }
            guard let flag = Self.names.first(where: { $0.0 == word })?.1 else {
                throw .invalid("NOTIFY", "expected NEVER or a list of SUCCESS, FAILURE, DELAY")
            }
            guard !notify.contains(flag) else { throw .invalid("NOTIFY", "\(word) given twice") }
            notify.insert(flag)
        }
        self = notify
    }

    /// The parameter value: "NEVER", or the conditions joined by commas.
    public var parameterValue: String {
        isEmpty ? "NEVER" : Self.names.filter { contains($0.1) }.map(\.0).joined(separator: ",")
    }
}

/// ORCPT= (RFC 3461 §4.2): the recipient as the sender first addressed it,
/// reported back as Original-Recipient (RFC 3464 §2.3.1).
///
///     orcpt-parameter = "ORCPT=" addr-type ";" xtext
public struct OriginalRecipient: Sendable, Hashable, CustomStringConvertible {
    /// "rfc822", "utf-8" (RFC 6533) …, as the client wrote it.
    public var addressType: String
    /// The address, xtext-decoded: printable US-ASCII.
    public var address: String

    public init(addressType: String, address: String) {
        self.addressType = addressType
        self.address = address
    }

    public init(parameter value: String?) throws(MailParameters.ParameterError) {
        guard let value, let semicolon = value.firstIndex(of: ";") else {
            throw .invalid("ORCPT", "expected addr-type;address")
        }
        let type = value[..<semicolon]
        // addr-type = atom (RFC 3461 §4.2): printable ASCII but specials.
        guard !type.isEmpty, type.utf8.allSatisfy({ (33...126).contains($0) && !Self.specials.contains($0) }) else {
            throw .invalid("ORCPT", "bad address type")
        }
        guard value.utf8.count <= SMTPDefaults.maxOriginalRecipientLength else {
            throw .invalid("ORCPT", "longer than \(SMTPDefaults.maxOriginalRecipientLength) characters")
        }
        addressType = String(type)
        address = try DSNValue.decode(value[value.index(after: semicolon)...], keyword: "ORCPT")
    }

    private static let specials = Set("()<>[]:;@\\,.\"".utf8)

    /// The parameter value for a next hop: "rfc822;" and the address in xtext.
    public var parameterValue: String { "\(addressType);\(XText.encode(address))" }

    /// As the Original-Recipient field writes it: "rfc822;bob@example.org".
    public var description: String { "\(addressType);\(address)" }
}

/// Decoding of the xtext values ENVID and ORCPT carry.
enum DSNValue {
    /// `value` decoded; it must stand for printable US-ASCII text (RFC 3461
    /// §4.2 and §4.4: the DSN reports it as is) and not be empty.
    static func decode(_ value: some StringProtocol, keyword: String) throws(MailParameters.ParameterError) -> String {
        let octets: [UInt8]
        do {
            octets = try XText.decode(value)
        } catch {
            switch error {
            case .badHexEscape: throw .invalid(keyword, "\"+\" must be followed by two hex digits (xtext)")
            case .invalidCharacter: throw .invalid(keyword, "not valid xtext")
            }
        }
        guard !octets.isEmpty else { throw .invalid(keyword, "empty") }
        guard octets.allSatisfy({ (32...126).contains($0) }) else {
            throw .invalid(keyword, "must decode to printable US-ASCII")
        }
        return String(decoding: octets, as: UTF8.self)
    }

    /// ENVID= (RFC 3461 §4.4): at most 100 characters as sent.
    static func envelopeID(_ value: String?) throws(MailParameters.ParameterError) -> String {
        guard let value else { throw .invalid("ENVID", "empty") }
        guard value.utf8.count <= SMTPDefaults.maxEnvelopeIDLength else {
            throw .invalid("ENVID", "longer than \(SMTPDefaults.maxEnvelopeIDLength) characters")
        }
        return try decode(value, keyword: "ENVID")
    }
}
