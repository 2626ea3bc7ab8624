import IMAPCore

/// Parses one command line (CRLF removed) into a `POP3Command`.
///
/// RFC 1939 §3: a keyword of three or four characters, case-insensitive,
/// then arguments separated by spaces. Runs of spaces are tolerated, as
/// Dovecot and most servers do; control characters are not.
public enum POP3CommandParser {
    public static func parse<Bytes: Collection<UInt8>>(_ line: Bytes) throws(POP3ParseError) -> POP3Command {
        let bytes = Array(line)
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { throw .invalidCharacters }
        let verbEnd = bytes.firstIndex(of: space) ?? bytes.endIndex
        guard verbEnd > 0 else { throw bytes.isEmpty ? .emptyLine : .unknownCommand("") }
        let verb = String(decoding: bytes[..<verbEnd], as: UTF8.self).uppercased()
        let rest = bytes[verbEnd...].dropFirst()
        let arguments = rest.split(separator: space).map(Array.init)
        switch verb {
        case "USER": return .user(try text(single(arguments, usage: "USER name")))
        case "PASS":
            // The password is the rest of the line, spaces and all.
            guard !rest.isEmpty else { throw .syntax("PASS password") }
            return .pass(SecretBytes(Array(rest)))
        case "AUTH": return try auth(arguments)
        case "STAT": return try none(arguments, .stat, usage: "STAT")
        case "LIST": return .list(try optionalNumber(arguments, usage: "LIST [msg]"))
        case "RETR": return .retr(try messageNumber(single(arguments, usage: "RETR msg")))
        case "DELE": return .dele(try messageNumber(single(arguments, usage: "DELE msg")))
        case "NOOP": return try none(arguments, .noop, usage: "NOOP")
        case "RSET": return try none(arguments, .rset, usage: "RSET")
        case "QUIT": return try none(arguments, .quit, usage: "QUIT")
        case "TOP": return try top(arguments)
        case "UIDL": return .uidl(try optionalNumber(arguments, usage: "UIDL [msg]"))
        case "CAPA": return try none(arguments, .capa, usage: "CAPA")
        case "STLS": return try none(arguments, .stls, usage: "STLS")
        default:
            throw .unknownCommand(String(decoding: bytes[..<verbEnd].prefix(16), as: UTF8.self))
        }
    }

    private static let space = UInt8(ascii: " ")

    /// auth = "AUTH" [SP mechanism [SP (initial-response / "=")]] (RFC 5034 §4).
    private static func auth(_ arguments: [[UInt8]]) throws(POP3ParseError) -> POP3Command {
        guard arguments.count <= 2 else { throw .syntax("AUTH mechanism [initial-response]") }
        guard let first = arguments.first else { return .auth(mechanism: nil, initialResponse: nil) }
        let mechanism = try text(first).uppercased()
        return .auth(mechanism: mechanism, initialResponse: arguments.count == 2 ? SecretBytes(arguments[1]) : nil)
    }

    /// top = "TOP" SP msg SP 1*DIGIT (RFC 1939 §7: the line count may be 0).
    private static func top(_ arguments: [[UInt8]]) throws(POP3ParseError) -> POP3Command {
        guard arguments.count == 2 else { throw .syntax("TOP msg lines") }
        return .top(try messageNumber(arguments[0]), lines: try number(arguments[1]))
    }

    private static func none(_ arguments: [[UInt8]], _ command: POP3Command, usage: String) throws(POP3ParseError) -> POP3Command {
        guard arguments.isEmpty else { throw .syntax(usage) }
        return command
    }

    private static func single(_ arguments: [[UInt8]], usage: String) throws(POP3ParseError) -> [UInt8] {
        guard arguments.count == 1 else { throw .syntax(usage) }
        return arguments[0]
    }

    private static func optionalNumber(_ arguments: [[UInt8]], usage: String) throws(POP3ParseError) -> Int? {
        guard arguments.count <= 1 else { throw .syntax(usage) }
        return try arguments.first.map { (argument) throws(POP3ParseError) in try messageNumber(argument) }
    }

    /// msg: a message number, never 0 (RFC 1939 §3).
    private static func messageNumber(_ bytes: [UInt8]) throws(POP3ParseError) -> Int {
        let value = try number(bytes)
        guard value > 0 else { throw .invalidNumber }
        return value
    }

    /// 1*DIGIT, at most nine of them so it fits any Int with room to spare.
    private static func number(_ bytes: [UInt8]) throws(POP3ParseError) -> Int {
        guard !bytes.isEmpty, bytes.count <= 9,
              bytes.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { throw .invalidNumber }
        return bytes.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }

    private static func text(_ bytes: [UInt8]) throws(POP3ParseError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidCharacters }
        return text
    }
}
