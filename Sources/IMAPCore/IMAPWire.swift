import Foundation

/// The data forms of server responses (RFC 3501 §4, §9): what the server
/// writes for strings, flags, dates and message octets.
public enum IMAPWire {
    /// Longest string sent quoted; longer ones go as literals, which
    /// clients read by count instead of scanning.
    static let maxQuotedLength = 1000

    /// string = quoted / literal: quoted when every octet is a 7-bit
    /// TEXT-CHAR (no NUL, CR, LF, nothing over 0x7F) and it is short,
    /// else a literal. `"` and `\` are escaped in a quoted string.
    /// NUL cannot be sent in either (CHAR8 excludes it): message text comes
    /// from `IMAPMessage`, which has replaced it.
    public static func string(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count <= maxQuotedLength, bytes.allSatisfy(isQuotable) else { return literal(bytes) }
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(bytes.count + 2)
        for byte in bytes {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
        return out
    }

    /// nstring = string / nil
    public static func nstring(_ bytes: [UInt8]?) -> [UInt8] {
        guard let bytes else { return nilAtom }
        return string(bytes)
    }

    /// The atom NIL, for an absent value.
    public static let nilAtom: [UInt8] = Array("NIL".utf8)

    /// astring = 1*ASTRING-CHAR / string. NIL is quoted so that it is not
    /// read back as nil where an nstring may stand.
    public static func astring(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        if !bytes.isEmpty, bytes.allSatisfy(IMAPCharacters.isAstringChar), text.uppercased() != "NIL" {
            return bytes
        }
        return string(bytes)
    }

    /// mailbox = "INBOX" / astring (the inbox in any case is written INBOX).
    public static func mailbox(_ name: String) -> [UInt8] {
        astring(MailboxName(name).name)
    }

    /// flag-list = "(" [flag *(SP flag)] ")"
    public static func flagList(_ flags: [Flag]) -> [UInt8] {
        Array("(\(flags.map(flag).joined(separator: " ")))".utf8)
    }

    /// flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension
    public static func flag(_ flag: Flag) -> String {
        switch flag {
        case .answered: "\\Answered"
        case .flagged: "\\Flagged"
        case .deleted: "\\Deleted"
        case .seen: "\\Seen"
        case .draft: "\\Draft"
        case .extension(let name): "\\" + name
        case .keyword(let name): name
        }
    }

    /// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE,
    /// e.g. "06-Dec-2026 22:10:03 +0000", in the zone `timeZoneOffsetSeconds`
    /// east of UTC (RFC 3501 §9).
    public static func internalDate(_ date: Date, timeZoneOffsetSeconds: Int = 0) -> [UInt8] {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down)) + Int64(timeZoneOffsetSeconds)
        let civil = CivilTime(unixSeconds: seconds)
        let sign = timeZoneOffsetSeconds < 0 ? "-" : "+"
        let minutes = abs(timeZoneOffsetSeconds) / 60
        let month = IMAPDate.monthNames[civil.month - 1]
        let text = "\"\(pad(civil.day))-\(month.prefix(1))\(month.dropFirst().lowercased())-\(civil.year) "
            + "\(pad(civil.hour)):\(pad(civil.minute)):\(pad(civil.second)) \(sign)\(pad(minutes / 60))\(pad(minutes % 60))\""
        return Array(text.utf8)
    }

    /// literal = "{" number "}" CRLF *CHAR8: how message octets are sent
    /// (BODY[...], RFC822), whatever they hold.
    public static func literal(_ bytes: [UInt8]) -> [UInt8] {
        var out = Array("{\(bytes.count)}\r\n".utf8)
        out.reserveCapacity(out.count + bytes.count)
        out.append(contentsOf: bytes)
        return out
    }

    /// The FETCH response item name for a section: `BODY[1.2.HEADER.FIELDS
    /// (FROM TO)]`, with `<offset>` after a partial fetch (RFC 3501 §7.4.2:
    /// the origin octet only, not the length).
    public static func sectionName(_ spec: SectionSpec, partial: Partial?) -> [UInt8] {
        var out = Array("BODY[".utf8)
        out += Array(spec.part.map(String.init).joined(separator: ".").utf8)
        if let text = spec.text {
            if !spec.part.isEmpty { out.append(UInt8(ascii: ".")) }
            switch text {
            case .header: out += Array("HEADER".utf8)
            case .text: out += Array("TEXT".utf8)
            case .mime: out += Array("MIME".utf8)
            case .headerFields(let names): out += Array("HEADER.FIELDS ".utf8) + headerList(names)
            case .headerFieldsNot(let names): out += Array("HEADER.FIELDS.NOT ".utf8) + headerList(names)
            }
        }
        out.append(UInt8(ascii: "]"))
        if let partial { out += Array("<\(partial.offset)>".utf8) }
        return out
    }

    /// header-list = "(" header-fld-name *(SP header-fld-name) ")"
    static func headerList(_ names: [String]) -> [UInt8] {
        [UInt8(ascii: "(")] + Array(names.map(astring).joined(separator: [UInt8(ascii: " ")])) + [UInt8(ascii: ")")]
    }

    /// TEXT-CHAR without CR and LF, 7-bit, not NUL.
    static func isQuotable(_ byte: UInt8) -> Bool {
        byte != 0 && byte < 0x80 && byte != UInt8(ascii: "\r") && byte != UInt8(ascii: "\n")
    }

    private static func pad(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}

/// A UTC (or offset) calendar time from Unix seconds, without Calendar:
/// the proleptic Gregorian conversion of Howard Hinnant's `civil_from_days`.
struct CivilTime: Equatable {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int

    init(unixSeconds: Int64) {
        let days = unixSeconds >= 0 ? unixSeconds / 86400 : (unixSeconds - 86399) / 86400
        let rest = Int(unixSeconds - days * 86400)
        hour = rest / 3600
        minute = rest % 3600 / 60
        second = rest % 60
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
    }

    /// Days since 1970-01-01 of a calendar date (`days_from_civil`).
    static func unixDays(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
