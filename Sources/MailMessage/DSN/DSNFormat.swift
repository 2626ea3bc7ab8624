/// Text rules for writing a DSN: every line CRLF-terminated and at most
/// 998 octets (RFC 5322 §2.1.1), no control character from the inputs
/// (a reply text must not be able to start a header line of its own), and
/// the machine-readable part in 7-bit.
enum DSNFormat {
    static let crlf: [UInt8] = [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
    static let maxLineLength = 998
    /// Where folding and wrapping break lines when they can (RFC 5322 §2.1.1 "SHOULD").
    static let preferredLineLength = 78

    /// `text` on one line: control characters become spaces.
    static func oneLine(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            out.append(scalar.value < 0x20 || scalar.value == 0x7F ? " " : scalar)
        }
        return String(out)
    }

    /// `oneLine(text)` in ASCII: each other character written as
    /// `\x{HEX}`, the escape RFC 6533 §3 uses for addresses.
    static func sevenBit(_ text: String) -> String {
        var out = ""
        for scalar in oneLine(text).unicodeScalars {
            if scalar.isASCII { out.unicodeScalars.append(scalar) } else { out += escaped(scalar) }
        }
        return out
    }

    /// An address with its type for Final-Recipient (RFC 3464 §2.3.2):
    /// "rfc822; bob@example.org", or for a non-ASCII address the "utf-8"
    /// type in its xtext form, "utf-8; j\x{FC}rgen@example.de" (RFC 6533 §3:
    /// the only form allowed in a 7-bit message/delivery-status).
    static func typedAddress(_ address: String) -> String {
        let address = oneLine(address)
        guard !address.unicodeScalars.allSatisfy(\.isASCII) else { return "rfc822; \(address)" }
        var xtext = ""
        for scalar in address.unicodeScalars {
            // QCHAR: printable ASCII except SP, "+", "=" and "\".
            let isQChar = (0x21...0x7E).contains(scalar.value) && !"+=\\".unicodeScalars.contains(scalar)
            if isQChar { xtext.unicodeScalars.append(scalar) } else { xtext += escaped(scalar) }
        }
        return "utf-8; \(xtext)"
    }

    /// EmbeddedUnicodeChar (RFC 6533 §3): "\x{" uppercase hex, at least two digits, "}".
    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "\\x{" + (hex.count < 2 ? "0" + hex : hex) + "}"
    }

    /// Letters, digits and ".-_" of `text`, for the left side of a Message-ID.
    static func messageIDSafe(_ text: String) -> String {
        let kept = text.unicodeScalars.filter { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || ".-_".unicodeScalars.contains(scalar))
        }
        return kept.isEmpty ? "dsn" : String(String.UnicodeScalarView(kept))
    }

    /// A header field ("Name: value", one line) folded at spaces (RFC 5322
    /// §2.2.3) before `preferredLineLength` where it can be; a run without
    /// spaces longer than a line can be is split hard. Lines joined by CRLF,
    /// no final CRLF.
    static func fold(_ field: String) -> String {
        breakLines(field, width: preferredLineLength, continuation: " ").joined(separator: "\r\n")
    }

    /// Plain text wrapped at spaces to `width` columns, continuation lines
    /// starting with `indent`; words longer than a line can be are split.
    static func wrap(_ text: String, width: Int, indent: String) -> [String] {
        breakLines(text, width: width, continuation: indent)
    }

    /// The words of `text` (split at spaces) laid out in lines of at most
    /// `width` octets where possible and `maxLineLength` always.
    private static func breakLines(_ text: String, width: Int, continuation: String) -> [String] {
        var lines: [String] = []
        var current = "" // the line being built, its prefix included
        var length = 0 // its length in octets
        var hasWord = false
        func startLine() {
            lines.append(current)
            current = continuation
            length = continuation.utf8.count
            hasWord = false
        }
        for var word in text.split(separator: " ") {
            if hasWord, length + 1 + word.utf8.count > width { startLine() }
            if hasWord {
                current += " "
                length += 1
            }
            // A word longer than any line may be: split at character boundaries.
            while length + word.utf8.count > maxLineLength {
                var headEnd = word.startIndex
                while headEnd < word.endIndex,
                      length + word[headEnd].utf8.count <= maxLineLength {
                    current.append(word[headEnd])
                    length += word[headEnd].utf8.count
                    headEnd = word.index(after: headEnd)
                }
                word = word[headEnd...]
                startLine()
            }
            current += word
            length += word.utf8.count
            hasWord = true
        }
        if hasWord || lines.isEmpty { lines.append(current) }
        return lines
    }

    /// `text` (lines ending in CRLF) as quoted-printable (RFC 2045 §6.7):
    /// lines of at most 76 characters with soft breaks, an escape never
    /// split, white space before a line end encoded.
    static func quotedPrintable(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        let hex = Array("0123456789ABCDEF".utf8)
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
            let content = Array(line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...])
            var column = 0
            for (offset, byte) in content.enumerated() {
                let isLast = offset == content.count - 1
                let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "="))
                    || (byte == UInt8(ascii: " ") && !isLast)
                let width = literal ? 1 : 3
                // Leave room for the "=" of a soft break unless this is the line's last byte.
                if column + width > (isLast ? 76 : 75) {
                    out.append(contentsOf: [UInt8(ascii: "=")] + crlf)
                    column = 0
                }
                if literal {
                    out.append(byte)
                } else {
                    out.append(contentsOf: [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
                }
                column += width
            }
            out.append(contentsOf: crlf)
        }
        return out
    }
}
