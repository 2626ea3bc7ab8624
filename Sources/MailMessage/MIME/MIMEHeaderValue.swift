/// The RFC 2045 §5.1 shape shared by Content-Type and Content-Disposition:
/// a leading value, then `;`-separated parameters, with RFC 822 comments
/// and white space allowed between the pieces.
///
///     content   := type "/" subtype *(";" parameter)
///     parameter := attribute "=" value
///     value     := token / quoted-string
///     token     := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>
///
/// Lenient where mail software is sloppy: unquoted values may hold
/// tspecials ("boundary=----=_Part_1") and even spaces ("name=my file.pdf"),
/// an unterminated quoted string runs to the end, and empty or broken
/// parameters are skipped. Parsing never fails.
struct MIMEHeaderValue {
    /// The leading value, white space and comments removed, case kept.
    var value: String
    /// Parameters as written, before RFC 2231 sections are joined.
    var rawParameters: [RawMIMEParameter]
    /// More than `maxParameters` were given; the rest were not read.
    var droppedParameters = false

    init(parsing text: String, limits: MIMELimits = MIMEDefaults.limits) {
        var scanner = MIMEHeaderScanner(bytes: Array(text.utf8))
        value = scanner.leadingValue()
        var parameters: [RawMIMEParameter] = []
        while scanner.skipToNextParameter() {
            guard let parameter = scanner.parameter() else { continue }
            guard parameters.count < limits.maxParameters else {
                droppedParameters = true
                break
            }
            parameters.append(parameter)
        }
        rawParameters = parameters
    }

    /// The parameters, RFC 2231 sections joined.
    func parameters(limits: MIMELimits) -> MIMEParameters {
        MIMEParameters(raw: rawParameters, droppedParameters: droppedParameters, limits: limits)
    }
}

/// One `attribute=value` as written. RFC 2231 §3/§4 split the attribute:
/// `title*1*` is section 1 of "title", percent-encoded.
struct RawMIMEParameter: Equatable {
    var name: String
    var section: Int?
    var isExtended: Bool
    var value: String

    /// Splits a lowercased attribute into name, section and the trailing "*".
    init(attribute: String, value: String) {
        self.value = value
        var name = Substring(attribute)
        isExtended = name.hasSuffix("*") && name.count > 1
        if isExtended { name = name.dropLast() }
        section = nil
        if let star = name.lastIndex(of: "*") {
            let digits = name[name.index(after: star)...]
            if !digits.isEmpty, digits.count <= 4, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
               let number = Int(digits) {
                section = number
                name = name[..<star]
            }
        }
        self.name = String(name)
    }
}

/// A byte cursor over one header value.
struct MIMEHeaderScanner {
    let bytes: [UInt8]
    var index = 0

    /// Comments nest (RFC 5322 §3.2.2); deeper ones are still skipped, just
    /// not counted beyond this.
    static let maxCommentDepth = 64

    /// Everything up to the first ";" outside quotes, without white space or
    /// comments ("text / plain (a comment)" gives "text/plain").
    mutating func leadingValue() -> String {
        var out: [UInt8] = []
        while index < bytes.count, bytes[index] != UInt8(ascii: ";") {
            let byte = bytes[index]
            if byte == UInt8(ascii: "(") {
                skipComment()
            } else if byte == UInt8(ascii: "\"") {
                out.append(contentsOf: quotedString())
            } else {
                if !Self.isWhitespace(byte) { out.append(byte) }
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Moves just past the next ";" (skipping anything else on the way).
    /// Returns false at the end of the value.
    mutating func skipToNextParameter() -> Bool {
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: ";") {
                index += 1
                return true
            }
            if byte == UInt8(ascii: "\"") {
                _ = quotedString()
            } else if byte == UInt8(ascii: "(") {
                skipComment()
            } else {
                index += 1
            }
        }
        return false
    }

    /// parameter := attribute "=" value, positioned just after a ";".
    /// Returns nil (leaving the cursor before the next ";") if malformed.
    mutating func parameter() -> RawMIMEParameter? {
        skipCFWS()
        let attributeStart = index
        while index < bytes.count, Self.isAttributeChar(bytes[index]) { index += 1 }
        guard index > attributeStart else { return nil }
        let attribute = String(decoding: bytes[attributeStart..<index], as: UTF8.self).lowercased()
        skipCFWS()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { return nil }
        index += 1
        skipCFWS()
        return RawMIMEParameter(attribute: attribute, value: parameterValue())
    }

    /// value := token / quoted-string, leniently extended to the next ";".
    mutating func parameterValue() -> String {
        if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            let quoted = quotedString()
            return String(decoding: quoted, as: UTF8.self)
        }
        let start = index
        while index < bytes.count, Self.isLenientValueChar(bytes[index]) { index += 1 }
        var end = index
        skipCFWS()
        if index < bytes.count, bytes[index] != UInt8(ascii: ";") {
            // Unquoted value with spaces or stray quotes: take it all to ";".
            while index < bytes.count, bytes[index] != UInt8(ascii: ";") { index += 1 }
            end = index
            while end > start, Self.isWhitespace(bytes[end - 1]) { end -= 1 }
        }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// quoted-string, positioned on the opening quote; quoted-pairs are
    /// unescaped. An unterminated string runs to the end of the value.
    mutating func quotedString() -> [UInt8] {
        var out: [UInt8] = []
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\"") { return out }
            if byte == UInt8(ascii: "\\"), index < bytes.count {
                out.append(bytes[index])
                index += 1
            } else if byte != UInt8(ascii: "\r") && byte != UInt8(ascii: "\n") {
                out.append(byte)
            }
        }
        return out
    }

    /// Skips white space and comments.
    mutating func skipCFWS() {
        while index < bytes.count {
            if Self.isWhitespace(bytes[index]) {
                index += 1
            } else if bytes[index] == UInt8(ascii: "(") {
                skipComment()
            } else {
                return
            }
        }
    }

    /// Skips a comment, positioned on "(": nested comments and quoted-pairs
    /// honoured; an unterminated comment runs to the end.
    mutating func skipComment() {
        var depth = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\\"):
                if index < bytes.count { index += 1 }
            case UInt8(ascii: "("):
                depth += 1
            case UInt8(ascii: ")"):
                depth -= 1
                if depth == 0 { return }
            default:
                break
            }
        }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
    }

    /// token characters (RFC 2045 §5.1), plus 8-bit bytes for raw UTF-8 names.
    static func isTokenChar(_ byte: UInt8) -> Bool {
        if byte >= 0x80 { return true }
        guard byte > 0x20, byte < 0x7F else { return false }
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "@"),
             UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "\\"), UInt8(ascii: "\""),
             UInt8(ascii: "/"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "?"), UInt8(ascii: "="):
            return false
        default:
            return true
        }
    }

    /// An attribute is a token; "*" (RFC 2231) is already a token character.
    static func isAttributeChar(_ byte: UInt8) -> Bool {
        isTokenChar(byte)
    }

    /// Unquoted values: anything but white space, ";", quotes, comments, CTLs.
    static func isLenientValueChar(_ byte: UInt8) -> Bool {
        if byte >= 0x80 { return true }
        guard byte > 0x20, byte < 0x7F else { return false }
        return byte != UInt8(ascii: ";") && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "(")
    }
}
