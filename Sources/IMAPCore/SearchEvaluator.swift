import Foundation
import MailMessage

/// One message as SEARCH sees it without reading the message itself.
public struct SearchCandidate: Sendable, Equatable {
    public var sequenceNumber: UInt32
    public var uid: UInt32
    /// System flags and keywords as stored.
    public var flags: [Flag]
    public var recent: Bool
    /// RFC822.SIZE.
    public var size: Int
    public var internalDate: Date

    public init(sequenceNumber: UInt32, uid: UInt32, flags: [Flag], recent: Bool, size: Int, internalDate: Date) {
        self.sequenceNumber = sequenceNumber
        self.uid = uid
        self.flags = flags
        self.recent = recent
        self.size = size
        self.internalDate = internalDate
    }
}

/// Decides whether a message matches a search key (RFC 3501 §6.4.4).
///
/// Strings match as case-insensitive substrings of decoded text: header
/// values with RFC 2047 words decoded, bodies transfer-decoded and
/// converted from their charset (see `IMAPMessage.bodyTexts`). Dates
/// ignore time and zone: INTERNALDATE's day in UTC, the Date: field's
/// day as written; a message without a readable Date: uses INTERNALDATE.
public enum SearchEvaluator {
    /// Whether `key` needs the message's header or body; when false the
    /// server need not read the message (flags, sizes, dates, sets).
    public static func needsContents(_ key: SearchKey) -> Bool {
        switch key {
        case .bcc, .body, .cc, .from, .subject, .text, .to, .header, .sentBefore, .sentOn, .sentSince:
            return true
        case .not(let inner):
            return needsContents(inner)
        case .or(let first, let second):
            return needsContents(first) || needsContents(second)
        case .and(let keys):
            return keys.contains(where: needsContents)
        default:
            return false
        }
    }

    /// Whether the candidate matches. `message` is needed when
    /// `needsContents(key)`; without it, keys on contents do not match.
    /// `largestSequence` and `largestUID` are what "*" stands for.
    public static func matches(_ key: SearchKey, _ candidate: SearchCandidate, message: IMAPMessage?,
                               largestSequence: UInt32, largestUID: UInt32) -> Bool {
        var context = SearchContext(candidate: candidate, message: message,
                                    largestSequence: largestSequence, largestUID: largestUID)
        return context.matches(key)
    }
}

/// One candidate's evaluation; decoded texts are made at most once.
private struct SearchContext {
    let candidate: SearchCandidate
    let message: IMAPMessage?
    let largestSequence: UInt32
    let largestUID: UInt32
    private var bodyTexts: [String]?

    init(candidate: SearchCandidate, message: IMAPMessage?, largestSequence: UInt32, largestUID: UInt32) {
        self.candidate = candidate
        self.message = message
        self.largestSequence = largestSequence
        self.largestUID = largestUID
    }

    mutating func matches(_ key: SearchKey) -> Bool {
        switch key {
        case .all: return true
        case .answered: return has(.answered)
        case .deleted: return has(.deleted)
        case .draft: return has(.draft)
        case .flagged: return has(.flagged)
        case .seen: return has(.seen)
        case .unanswered: return !has(.answered)
        case .undeleted: return !has(.deleted)
        case .undraft: return !has(.draft)
        case .unflagged: return !has(.flagged)
        case .unseen: return !has(.seen)
        case .recent: return candidate.recent
        case .new: return candidate.recent && !has(.seen)
        case .old: return !candidate.recent
        case .keyword(let name): return hasKeyword(name)
        case .unkeyword(let name): return !hasKeyword(name)
        case .from(let text): return header("From", contains: text)
        case .to(let text): return header("To", contains: text)
        case .cc(let text): return header("Cc", contains: text)
        case .bcc(let text): return header("Bcc", contains: text)
        case .subject(let text): return header("Subject", contains: text)
        case .header(let field, let text): return header(field, contains: text)
        case .body(let text): return body(contains: text)
        case .text(let text):
            guard let message else { return false }
            return Self.contains(message.headerText(), text) || body(contains: text)
        case .before(let date): return internalDay < date.dayNumber
        case .on(let date): return internalDay == date.dayNumber
        case .since(let date): return internalDay >= date.dayNumber
        case .sentBefore(let date): return sentDay.map { $0 < date.dayNumber } ?? false
        case .sentOn(let date): return sentDay.map { $0 == date.dayNumber } ?? false
        case .sentSince(let date): return sentDay.map { $0 >= date.dayNumber } ?? false
        case .larger(let size): return candidate.size > Int(size)
        case .smaller(let size): return candidate.size < Int(size)
        case .uid(let set): return set.contains(candidate.uid, largest: largestUID)
        case .sequenceSet(let set): return set.contains(candidate.sequenceNumber, largest: largestSequence)
        case .not(let inner): return !matches(inner)
        case .or(let first, let second): return matches(first) || matches(second)
        case .and(let keys):
            for key in keys where !matches(key) { return false }
            return true
        }
    }

    private func has(_ flag: Flag) -> Bool { candidate.flags.contains(flag) }

    /// Keywords compare without case, as Dovecot compares them.
    private func hasKeyword(_ name: String) -> Bool {
        let wanted = name.lowercased()
        return candidate.flags.contains {
            if case .keyword(let keyword) = $0 { return keyword.lowercased() == wanted }
            return false
        }
    }

    /// HEADER with an empty string matches every message with the field (§6.4.4).
    private func header(_ name: String, contains text: String) -> Bool {
        guard let message else { return false }
        let values = message.header().decodedValues(name)
        if text.isEmpty { return !values.isEmpty }
        return values.contains { Self.contains($0, text) }
    }

    private mutating func body(contains text: String) -> Bool {
        guard let message else { return false }
        if bodyTexts == nil { bodyTexts = message.bodyTexts() }
        return bodyTexts?.contains { Self.contains($0, text) } ?? false
    }

    private var internalDay: Int64 {
        let seconds = Int64(candidate.internalDate.timeIntervalSince1970.rounded(.down))
        let civil = CivilTime(unixSeconds: seconds)
        return CivilTime.unixDays(year: civil.year, month: civil.month, day: civil.day)
    }

    /// The Date: field's day, else INTERNALDATE's; nil without the message.
    private var sentDay: Int64? {
        guard let message else { return nil }
        guard let value = message.header().first("Date")?.value, let date = SentDate.parse(value) else {
            return internalDay
        }
        return date.dayNumber
    }

    static func contains(_ text: String, _ needle: String) -> Bool {
        needle.isEmpty || text.range(of: needle, options: [.caseInsensitive]) != nil
    }
}

extension IMAPDate {
    /// Days since 1970-01-01, for ordering dates.
    var dayNumber: Int64 { CivilTime.unixDays(year: year, month: month, day: day) }
}

/// The day of an RFC 5322 Date: field (§3.3, with the obsolete forms of
/// §4.3): `[day-of-week ","] day month year ...`; time and zone ignored,
/// as SENTBEFORE/SENTON/SENTSINCE ignore them (RFC 3501 §6.4.4).
enum SentDate {
    static func parse(_ value: String) -> IMAPDate? {
        var words: [Substring] = []
        for piece in value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," || $0 == "-" }) {
            words.append(piece)
            if words.count >= 8 { break }
        }
        // The first number followed by a month name and a year.
        for start in words.indices where start + 2 < words.count {
            guard let day = Int(words[start]), (1...31).contains(day),
                  let month = IMAPDate.monthNames.firstIndex(of: words[start + 1].prefix(3).uppercased()),
                  words[start + 1].count >= 3,
                  let rawYear = Int(words[start + 2]), rawYear >= 0, words[start + 2].count <= 4 else { continue }
            // Two-digit years (§4.3): 00-49 are 2000-2049, 50-99 1950-1999; three digits add 1900.
            let year = words[start + 2].count == 2 ? (rawYear < 50 ? 2000 + rawYear : 1900 + rawYear)
                : words[start + 2].count == 3 ? 1900 + rawYear : rawYear
            return IMAPDate(year: year, month: month + 1, day: day)
        }
        return nil
    }
}
