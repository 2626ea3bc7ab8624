/// The commands on mailboxes beyond SELECT and STATUS: ENABLE, RENAME,
/// APPEND and LIST with its RFC 5258 extensions.
extension IMAPCommandGrammar {
    /// enable = "ENABLE" 1*(SP capability)   (RFC 5161 §4)
    static func enable(_ input: inout IMAPInput) throws(Failure) -> [String] {
        var names: [String] = []
        while input.skip(UInt8(ascii: " ")) {
            names.append(try input.atom("capability").uppercased())
            try input.checkCount(names.count)
        }
        guard !names.isEmpty else { throw .syntax("ENABLE capability ...") }
        return names
    }

    /// rename = "RENAME" SP mailbox SP mailbox
    static func rename(_ input: inout IMAPInput) throws(Failure) -> IMAPCommand {
        let from = try mailboxArgument(&input, usage: "RENAME mailbox new-name")
        return .rename(from: from, to: try mailboxArgument(&input, usage: "RENAME mailbox new-name"))
    }

    /// append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
    static func append(_ input: inout IMAPInput) throws(Failure) -> IMAPCommand {
        let usage = "APPEND mailbox [(flags)] [\"date-time\"] {size}"
        let mailbox = try mailboxArgument(&input, usage: usage)
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        var flags: [Flag] = []
        if input.peek(is: UInt8(ascii: "(")) {
            flags = try flagList(&input)
            guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        }
        var date: IMAPDateTime?
        if input.peek(is: UInt8(ascii: "\"")) {
            date = try input.dateTime()
            guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        }
        guard input.peek(is: UInt8(ascii: "{")) else { throw .expected("message literal") }
        return .append(mailbox, flags: flags, date: date, message: try input.literal())
    }

    /// list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
    /// mbox-or-pat = list-mailbox / patterns
    /// patterns = "(" list-mailbox *(SP list-mailbox) ")"          (RFC 5258 §6)
    static func list(_ input: inout IMAPInput) throws(Failure) -> IMAPCommand {
        let usage = "LIST [(options)] reference pattern [RETURN (options)]"
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        var selection: [String]?
        if input.peek(is: UInt8(ascii: "(")) {
            selection = try options(&input)
            guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        }
        let reference = try mailbox(&input)
        guard input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
        var patterns: [String] = []
        if input.skip(UInt8(ascii: "(")) {
            repeat {
                patterns.append(try listPattern(&input))
                try input.checkCount(patterns.count)
            } while input.skip(UInt8(ascii: " "))
            try input.expect(UInt8(ascii: ")"), "\")\" after patterns")
        } else {
            patterns = [try listPattern(&input)]
        }
        var returnOptions: [String]?
        if input.skip(UInt8(ascii: " ")) {
            guard try input.keyword("RETURN") == "RETURN", input.skip(UInt8(ascii: " ")) else { throw .syntax(usage) }
            returnOptions = try options(&input)
        }
        if selection == nil, returnOptions == nil, patterns.count == 1 {
            return .list(reference: reference, pattern: patterns[0])
        }
        return .listExtended(selection: selection ?? [], reference: reference, patterns: patterns,
                             returnOptions: returnOptions ?? [])
    }

    /// list-select-opts / list-return-opts: "(" [option *(SP option)] ")",
    /// each option an atom (options with arguments, such as RFC 5819
    /// STATUS, are not accepted: the server does not announce them).
    static func options(_ input: inout IMAPInput) throws(Failure) -> [String] {
        try input.expect(UInt8(ascii: "("), "\"(\" before options")
        var names: [String] = []
        if input.skip(UInt8(ascii: ")")) { return names }
        repeat {
            names.append(try input.atom("option").uppercased())
            try input.checkCount(names.count)
        } while input.skip(UInt8(ascii: " "))
        try input.expect(UInt8(ascii: ")"), "\")\" after options")
        return names
    }
}
