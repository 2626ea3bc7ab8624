import Foundation

/// MIME charset names (RFC 2046 §4.1.2, IANA character-sets registry) mapped
/// to Foundation's `String.Encoding`, and decoding that never fails.
///
/// Encodings without a named `String.Encoding` constant are given by their
/// CoreFoundation number: an NSString encoding is `0x8000_0000 | CFStringEncoding`
/// (what `CFStringConvertEncodingToNSStringEncoding` computes), which
/// Foundation understands on Linux and Darwin alike.
public enum Charset {
    /// The encoding for a charset name (case-insensitive, common aliases
    /// included), or nil if the name is unknown here.
    public static func encoding(named name: String) -> String.Encoding? {
        aliases[normalize(name)]
    }

    /// Decodes `bytes` in `charset`. Never fails: a missing or unknown
    /// charset, or bytes that are invalid in the named one, fall back to
    /// UTF-8, then Windows-1252, then ISO-8859-1 (which takes any byte).
    public static func decode(_ bytes: some Collection<UInt8>, charset: String?) -> String {
        if let charset, let encoding = encoding(named: charset),
           let text = String(bytes: bytes, encoding: encoding) {
            return text
        }
        return decodeWithFallback(bytes)
    }

    static func decodeWithFallback(_ bytes: some Collection<UInt8>) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        if let text = String(bytes: bytes, encoding: .windowsCP1252) { return text }
        return String(bytes.map { Character(Unicode.Scalar($0)) })
    }

    /// Lowercased, quotes and white space trimmed, RFC 2231 §5 language
    /// suffix ("utf-8*en") removed.
    static func normalize(_ name: String) -> String {
        var lowered = name.lowercased()
        if let star = lowered.firstIndex(of: "*") { lowered = String(lowered[..<star]) }
        return lowered.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'"))
    }

    private static func cf(_ value: UInt) -> String.Encoding {
        String.Encoding(rawValue: 0x8000_0000 | value)
    }

    private static let aliases: [String: String.Encoding] = {
        var table: [String: String.Encoding] = [:]
        func add(_ encoding: String.Encoding, _ names: String...) {
            for name in names { table[name] = encoding }
        }
        add(.utf8, "utf-8", "utf8", "unicode-1-1-utf-8")
        add(.ascii, "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "cp367", "iso-ir-6")
        add(.isoLatin1, "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819", "iso-ir-100")
        add(.isoLatin2, "iso-8859-2", "iso8859-2", "iso_8859-2", "latin2", "l2")
        add(cf(0x0203), "iso-8859-3", "iso8859-3", "latin3")
        add(cf(0x0204), "iso-8859-4", "iso8859-4", "latin4")
        add(cf(0x0205), "iso-8859-5", "iso8859-5", "cyrillic")
        add(cf(0x0206), "iso-8859-6", "iso8859-6", "arabic")
        add(cf(0x0207), "iso-8859-7", "iso8859-7", "greek")
        add(cf(0x0208), "iso-8859-8", "iso8859-8", "iso-8859-8-i", "hebrew")
        add(cf(0x0209), "iso-8859-9", "iso8859-9", "latin5")
        add(cf(0x020D), "iso-8859-13", "iso8859-13")
        add(cf(0x020F), "iso-8859-15", "iso8859-15", "iso_8859-15", "latin-9", "latin9")
        add(.windowsCP1250, "windows-1250", "cp1250")
        add(.windowsCP1251, "windows-1251", "cp1251")
        add(.windowsCP1252, "windows-1252", "cp1252")
        add(.windowsCP1253, "windows-1253", "cp1253")
        add(.windowsCP1254, "windows-1254", "cp1254")
        add(cf(0x0507), "windows-1257", "cp1257")
        add(cf(0x0A02), "koi8-r")
        add(cf(0x0A08), "koi8-u")
        add(.utf16, "utf-16")
        add(.utf16BigEndian, "utf-16be")
        add(.utf16LittleEndian, "utf-16le")
        add(cf(0x0A01), "shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "cp932", "windows-31j")
        add(cf(0x0820), "iso-2022-jp")
        add(cf(0x0A03), "big5", "big-5", "cp950")
        // GB 18030 is a superset of GBK and GB 2312; mail labelled GB 2312
        // often uses GBK characters (as browsers assume too).
        add(cf(0x0632), "gb18030", "gb2312", "euc-cn", "x-gbk", "gbk", "cp936")
        add(cf(0x0940), "euc-kr", "ks_c_5601-1987", "cp949")
        return table
    }()
}
