/// search-key (RFC 3501 §6.4.4). Several keys side by side mean all of them:
/// the parser folds them into `.and`.
public indirect enum SearchKey: Hashable, Sendable {
    case all
    case answered, deleted, draft, flagged, new, old, recent, seen
    case unanswered, undeleted, undraft, unflagged, unseen
    case keyword(String)
    case unkeyword(String)
    case bcc(String), body(String), cc(String), from(String), subject(String), text(String), to(String)
    case header(field: String, value: String)
    /// INTERNALDATE comparisons.
    case before(IMAPDate), on(IMAPDate), since(IMAPDate)
    /// Date: header comparisons.
    case sentBefore(IMAPDate), sentOn(IMAPDate), sentSince(IMAPDate)
    case larger(UInt32), smaller(UInt32)
    case uid(SequenceSet)
    case sequenceSet(SequenceSet)
    case not(SearchKey)
    case or(SearchKey, SearchKey)
    case and([SearchKey])
}

/// date-text = date-day "-" date-month "-" date-year, e.g. "1-Feb-1994".
public struct IMAPDate: Hashable, Sendable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
}

extension IMAPInput {
    /// search = "SEARCH" [SP "CHARSET" SP astring] 1*(SP search-key)
    /// (the caller has read "SEARCH"; the SP before the first key is read here).
    mutating func searchArguments() throws(Failure) -> (charset: String?, key: SearchKey) {
        try space()
        var charset: String?
        let start = index
        if (try? keyword("CHARSET")) == "CHARSET", skip(UInt8(ascii: " ")) {
            charset = try text("charset").uppercased()
            try space()
        } else {
            index = start
        }
        var count = 0
        var keys: [SearchKey] = []
        repeat {
            keys.append(try searchKey(count: &count))
        } while skip(UInt8(ascii: " "))
        return (charset, keys.count == 1 ? keys[0] : .and(keys))
    }

    /// One search-key; `count` counts every key, nested ones too.
    mutating func searchKey(count: inout Int) throws(Failure) -> SearchKey {
        count += 1
        try checkCount(count)
        if skip(UInt8(ascii: "(")) {
            try descend()
            var keys: [SearchKey] = []
            repeat {
                keys.append(try searchKey(count: &count))
            } while skip(UInt8(ascii: " "))
            try expect(UInt8(ascii: ")"), "\")\" after search keys")
            ascend()
            return keys.count == 1 ? keys[0] : .and(keys)
        }
        if let byte = peek, IMAPCharacters.isDigit(byte) || byte == UInt8(ascii: "*") {
            return .sequenceSet(try sequenceSet())
        }
        let name = try keyword("search key")
        if let simple = Self.flagKeys[name] { return simple }
        switch name {
        case "KEYWORD": try space(); return .keyword(try atom("keyword"))
        case "UNKEYWORD": try space(); return .unkeyword(try atom("keyword"))
        case "BCC": return .bcc(try searchString())
        case "BODY": return .body(try searchString())
        case "CC": return .cc(try searchString())
        case "FROM": return .from(try searchString())
        case "SUBJECT": return .subject(try searchString())
        case "TEXT": return .text(try searchString())
        case "TO": return .to(try searchString())
        case "HEADER":
            let field = try searchString()
            return .header(field: field, value: try searchString())
        case "BEFORE": return .before(try searchDate())
        case "ON": return .on(try searchDate())
        case "SINCE": return .since(try searchDate())
        case "SENTBEFORE": return .sentBefore(try searchDate())
        case "SENTON": return .sentOn(try searchDate())
        case "SENTSINCE": return .sentSince(try searchDate())
        case "LARGER": try space(); return .larger(try number())
        case "SMALLER": try space(); return .smaller(try number())
        case "UID": try space(); return .uid(try sequenceSet())
        case "NOT":
            try space()
            try descend()
            defer { ascend() }
            return .not(try searchKey(count: &count))
        case "OR":
            try space()
            try descend()
            defer { ascend() }
            let first = try searchKey(count: &count)
            try space()
            return .or(first, try searchKey(count: &count))
        default:
            throw .expected("search key, not \(name.prefix(32))")
        }
    }

    private static let flagKeys: [String: SearchKey] = [
        "ALL": .all, "ANSWERED": .answered, "DELETED": .deleted, "DRAFT": .draft, "FLAGGED": .flagged,
        "NEW": .new, "OLD": .old, "RECENT": .recent, "SEEN": .seen, "UNANSWERED": .unanswered,
        "UNDELETED": .undeleted, "UNDRAFT": .undraft, "UNFLAGGED": .unflagged, "UNSEEN": .unseen,
    ]

    /// SP astring, as UTF-8 text.
    private mutating func searchString() throws(Failure) -> String {
        try space()
        return try text("search string")
    }

    /// SP date; date = date-text / DQUOTE date-text DQUOTE
    mutating func searchDate() throws(Failure) -> IMAPDate {
        try space()
        let quoted = skip(UInt8(ascii: "\""))
        let day = take(while: IMAPCharacters.isDigit)
        guard (1...2).contains(day.count), let dayValue = IMAPCharacters.number(day, max: 31), dayValue >= 1 else {
            throw .invalidDate
        }
        guard skip(UInt8(ascii: "-")) else { throw .invalidDate }
        let month = String(decoding: take(while: IMAPCharacters.isAlpha), as: UTF8.self).uppercased()
        guard let monthIndex = IMAPDate.monthNames.firstIndex(of: month), skip(UInt8(ascii: "-")) else { throw .invalidDate }
        let year = take(while: IMAPCharacters.isDigit)
        guard year.count == 4, let yearValue = IMAPCharacters.number(year, max: 9999) else { throw .invalidDate }
        if quoted { try expect(UInt8(ascii: "\""), "closing quote after date") }
        return IMAPDate(year: Int(yearValue), month: monthIndex + 1, day: Int(dayValue))
    }
}
