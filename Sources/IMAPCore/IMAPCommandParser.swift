import NIOCore

/// Parses one framed command (an `IMAPFrame.command`) into a `TaggedCommand`.
///
/// command = tag SP (command-any / command-auth / command-nonauth /
///           command-select) CRLF                        (RFC 3501 §9)
/// Command names are case-insensitive; arguments are separated by exactly
/// one SP, and nothing may follow the last one.
public enum IMAPCommandParser {
    public static func parse(_ frame: ByteBuffer, limits: IMAPLimits = IMAPDefaults.limits) throws(IMAPParseError) -> TaggedCommand {
        try parse(Array(frame.readableBytesView), limits: limits)
    }

    public static func parse(_ bytes: [UInt8], limits: IMAPLimits = IMAPDefaults.limits) throws(IMAPParseError) -> TaggedCommand {
        guard !bytes.isEmpty else { throw IMAPParseError(tag: nil, reason: .emptyLine) }
        var input = IMAPInput(bytes, limits: limits)
        let tagBytes = input.take(while: IMAPCharacters.isTagChar)
        guard !tagBytes.isEmpty, input.atEnd || input.peek(is: UInt8(ascii: " ")) else {
            throw IMAPParseError(tag: nil, reason: .invalidTag)
        }
        let tag = String(decoding: tagBytes, as: UTF8.self)
        do {
            try input.space()
            let command = try IMAPCommandGrammar.command(&input)
            try input.expectEnd()
            return TaggedCommand(tag: tag, command: command)
        } catch {
            throw IMAPParseError(tag: tag, reason: error)
        }
    }

    /// A client line during AUTHENTICATE (RFC 3501 §6.2.2): base64 data
    /// (possibly empty) or "*" to cancel, which the server answers with BAD.
    public static func parseAuthenticationResponse(_ frame: ByteBuffer) throws(IMAPParseError) -> AuthenticationResponse {
        let bytes = Array(frame.readableBytesView)
        if bytes == [UInt8(ascii: "*")] { return .cancel }
        guard bytes.allSatisfy(IMAPCharacters.isBase64) else {
            throw IMAPParseError(tag: nil, reason: .expected("base64 or \"*\""))
        }
        return .response(SecretBytes(bytes))
    }

    /// The line that ends IDLE (RFC 2177): "DONE", any case, nothing else.
    public static func parseIdleDone(_ frame: ByteBuffer) throws(IMAPParseError) {
        guard String(decoding: frame.readableBytesView, as: UTF8.self).uppercased() == "DONE" else {
            throw IMAPParseError(tag: nil, reason: .expected("DONE"))
        }
    }
}

/// The command rules, one function per command shape.
enum IMAPCommandGrammar {
    typealias Failure = IMAPParseError.Reason

    static func command(_ input: inout IMAPInput) throws(Failure) -> IMAPCommand {
        let name = try input.atom("command")
        let upper = name.uppercased()
        switch upper {
        case "CAPABILITY": return .capability
        case "NOOP": return .noop
        case "LOGOUT": return .logout
        case "STARTTLS": return .startTLS
        case "CHECK": return .check
        case "CLOSE": return .close
        case "UNSELECT": return .unselect
        case "EXPUNGE": return .expunge
        case "IDLE": return .idle
        case "LOGIN": return try login(&input)
        case "AUTHENTICATE": return try authenticate(&input)
        case "ID": return .id(try id(&input))
        case "SELECT": return .select(try mailboxArgument(&input, usage: "SELECT mailbox"))
        case "EXAMINE": return .examine(try mailboxArgument(&input, usage: "EXAMINE mailbox"))
        case "LIST": return try list(&input)
        case "LSUB":
            let (reference, pattern) = try listArguments(&input)
            return .lsub(reference: reference, pattern: pattern)
        case "STATUS": return try status(&input)
        case "UID": return try uid(&input)
        case "ENABLE": return .enable(try enable(&input))
        case "NAMESPACE": return .namespace
        case "SUBSCRIBE": return .subscribe(try mailboxArgument(&input, usage: "SUBSCRIBE mailbox"))
        case "UNSUBSCRIBE": return .unsubscribe(try mailboxArgument(&input, usage: "UNSUBSCRIBE mailbox"))
        case "CREATE": return .create(try mailboxArgument(&input, usage: "CREATE mailbox"))
        case "DELETE": return .delete(try mailboxArgument(&input, usage: "DELETE mailbox"))
        case "RENAME": return try rename(&input)
        case "APPEND": return try append(&input)
        default:
            guard let command = try messageCommand(upper, &input, uid: false) else { throw .unknownCommand(name) }
            return command
        }
    }

    /// SEARCH, FETCH, STORE, COPY and MOVE, by sequence number or after
    /// "UID" by UID (RFC 3501 §6.4.8); nil for any other name.
    static func messageCommand(_ name: String, _ input: inout IMAPInput, uid: Bool) throws(Failure) -> IMAPCommand? {
        switch name {
        case "SEARCH":
            let (charset, key) = try input.searchArguments()
            return uid ? .uidSearch(charset: charset, key) : .search(charset: charset, key)
        case "FETCH":
            let (set, attributes) = try fetchArguments(&input)
            return uid ? .uidFetch(set, attributes) : .fetch(set, attributes)
        case "STORE":
            let (set, flags) = try storeArguments(&input)
            return uid ? .uidStore(set, flags) : .store(set, flags)
        case "COPY":
            let (set, mailbox) = try setAndMailbox(&input)
            return uid ? .uidCopy(set, mailbox) : .copy(set, mailbox)
        case "MOVE":
            let (set, mailbox) = try setAndMailbox(&input)
            return uid ? .uidMove(set, mailbox) : .move(set, mailbox)
        default:
            return nil
        }
    }

    /// uid = "UID" SP (copy / move / fetch / search / store / uid-expunge)
    static func uid(_ input: inout IMAPInput) throws(Failure) -> IMAPCommand {
        try input.space()
        let name = try input.atom("UID command").uppercased()
        if name == "EXPUNGE" {
            try input.space()
            return .uidExpunge(try input.sequenceSet())
        }
        guard let command = try messageCommand(name, &input, uid: true) else {
            throw .syntax("UID FETCH|SEARCH|STORE|COPY|MOVE|EXPUNGE ...")
        }
        return command
    }

    /// login = "LOGIN" SP userid SP password
    static func login(_ input: inout IMAPInput) throws(Failure) -> IMAPCommand {
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("LOGIN user password") }
        let user = try input.text("user name")
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("LOGIN user password") }
        return .login(username: user, password: SecretBytes(try input.astring("password")))
    }

    /// authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]
    static func authenticate(_ input: inout IMAPInput) throws(Failure) -> IMAPCommand {
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("AUTHENTICATE mechanism [initial-response]") }
        let mechanism = try input.atom("mechanism").uppercased()
        guard input.skip(UInt8(ascii: " ")) else { return .authenticate(mechanism: mechanism, initialResponse: nil) }
        let response = input.take(while: IMAPCharacters.isBase64)
        guard !response.isEmpty else { throw .expected("base64 initial response") }
        return .authenticate(mechanism: mechanism, initialResponse: SecretBytes(Array(response)))
    }

    /// id = "ID" SP id-params-list
    /// id-params-list = "(" *(string SP nstring) ")" / nil
    static func id(_ input: inout IMAPInput) throws(Failure) -> [IDParameter] {
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("ID NIL or ID (\"name\" \"value\" ...)") }
        guard input.skip(UInt8(ascii: "(")) else {
            guard try input.atom("NIL or list").uppercased() == "NIL" else { throw .expected("NIL or list") }
            return []
        }
        var parameters: [IDParameter] = []
        if input.skip(UInt8(ascii: ")")) { return parameters }
        repeat {
            let raw = try input.string()
            guard let key = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
            try input.space()
            parameters.append(IDParameter(key: key, value: try input.nstring()))
            try input.checkCount(parameters.count)
        } while input.skip(UInt8(ascii: " "))
        try input.expect(UInt8(ascii: ")"), "\")\" after ID parameters")
        return parameters
    }

    /// mailbox = "INBOX" / astring
    static func mailbox(_ input: inout IMAPInput) throws(Failure) -> MailboxName {
        MailboxName(try input.text("mailbox"))
    }

    static func mailboxArgument(_ input: inout IMAPInput, usage: String) throws(Failure) -> MailboxName {
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        return try mailbox(&input)
    }

    /// lsub = "LSUB" SP mailbox SP list-mailbox
    static func listArguments(_ input: inout IMAPInput) throws(Failure) -> (MailboxName, String) {
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("LSUB reference pattern") }
        let reference = try mailbox(&input)
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("LSUB reference pattern") }
        return (reference, try listPattern(&input))
    }

    /// list-mailbox = 1*list-char / string
    static func listPattern(_ input: inout IMAPInput) throws(Failure) -> String {
        let raw: [UInt8]
        if input.peek(is: UInt8(ascii: "\"")) || input.peek(is: UInt8(ascii: "{")) {
            raw = try input.string()
        } else {
            raw = Array(input.take(while: IMAPCharacters.isListChar))
            guard !raw.isEmpty else { throw .expected("list pattern") }
        }
        guard let pattern = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
        return pattern
    }

    /// status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
    static func status(_ input: inout IMAPInput) throws(Failure) -> IMAPCommand {
        let usage = "STATUS mailbox (MESSAGES|RECENT|UIDNEXT|UIDVALIDITY|UNSEEN ...)"
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        let mailbox = try mailbox(&input)
        guard input.skip(UInt8(ascii: " ")), input.skip(UInt8(ascii: "(")) else { throw .syntax(usage) }
        var attributes: [StatusAttribute] = []
        repeat {
            guard let attribute = StatusAttribute(rawValue: try input.keyword("status attribute")) else { throw .syntax(usage) }
            attributes.append(attribute)
            try input.checkCount(attributes.count)
        } while input.skip(UInt8(ascii: " "))
        try input.expect(UInt8(ascii: ")"), "\")\" after status attributes")
        return .status(mailbox, attributes)
    }

    /// fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")
    static func fetchArguments(_ input: inout IMAPInput) throws(Failure) -> (SequenceSet, [FetchAttribute]) {
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("FETCH sequence-set attributes") }
        let set = try input.sequenceSet()
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("FETCH sequence-set attributes") }
        return (set, try input.fetchAttributes())
    }

    /// store = "STORE" SP sequence-set SP store-att-flags
    /// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
    static func storeArguments(_ input: inout IMAPInput) throws(Failure) -> (SequenceSet, StoreFlags) {
        let usage = "STORE sequence-set [+|-]FLAGS[.SILENT] (flags)"
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        let set = try input.sequenceSet()
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        var operation = StoreFlags.Operation.replace
        if input.skip(UInt8(ascii: "+")) {
            operation = .add
        } else if input.skip(UInt8(ascii: "-")) {
            operation = .remove
        }
        let silent: Bool
        switch try input.keyword("FLAGS") {
        case "FLAGS": silent = false
        case "FLAGS.SILENT": silent = true
        default: throw .syntax(usage)
        }
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        let flags = input.peek(is: UInt8(ascii: "(")) ? try flagList(&input) : try flagsWithoutList(&input)
        return (set, StoreFlags(operation: operation, silent: silent, flags: flags))
    }

    /// flag-list = "(" [flag *(SP flag)] ")"
    static func flagList(_ input: inout IMAPInput) throws(Failure) -> [Flag] {
        try input.expect(UInt8(ascii: "("), "\"(\" before flags")
        if input.skip(UInt8(ascii: ")")) { return [] }
        let flags = try flagsWithoutList(&input)
        try input.expect(UInt8(ascii: ")"), "\")\" after flags")
        return flags
    }

    /// flag *(SP flag)
    static func flagsWithoutList(_ input: inout IMAPInput) throws(Failure) -> [Flag] {
        var flags: [Flag] = []
        repeat {
            flags.append(try flag(&input))
            try input.checkCount(flags.count)
        } while input.skip(UInt8(ascii: " "))
        return flags
    }

    /// flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension
    static func flag(_ input: inout IMAPInput) throws(Failure) -> Flag {
        guard input.skip(UInt8(ascii: "\\")) else { return .keyword(try input.atom("flag")) }
        let name = try input.atom("flag")
        switch name.uppercased() {
        case "ANSWERED": return .answered
        case "FLAGGED": return .flagged
        case "DELETED": return .deleted
        case "SEEN": return .seen
        case "DRAFT": return .draft
        case "RECENT": throw .expected("flag other than \\Recent")
        default: return .extension(name)
        }
    }

    /// copy = "COPY" SP sequence-set SP mailbox (and MOVE, RFC 6851)
    static func setAndMailbox(_ input: inout IMAPInput) throws(Failure) -> (SequenceSet, MailboxName) {
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("COPY sequence-set mailbox") }
        let set = try input.sequenceSet()
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax("COPY sequence-set mailbox") }
        return (set, try mailbox(&input))
    }
}
