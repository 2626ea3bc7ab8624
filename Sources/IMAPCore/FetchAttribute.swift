/// fetch-att (RFC 3501 §6.4.5). The macros ALL, FAST and FULL are expanded
/// by the parser into the attributes they stand for.
public enum FetchAttribute: Hashable, Sendable {
    case envelope
    case flags
    case internalDate
    case rfc822
    case rfc822Header
    case rfc822Size
    case rfc822Text
    /// "BODY" alone: the non-extensible BODYSTRUCTURE.
    case body
    case bodyStructure
    case uid
    /// BODY[section]<partial> or BODY.PEEK[...] (peek leaves \Seen alone).
    case bodySection(peek: Bool, section: SectionSpec, partial: Partial?)

    public static let allMacro: [FetchAttribute] = [.flags, .internalDate, .rfc822Size, .envelope]
    public static let fastMacro: [FetchAttribute] = [.flags, .internalDate, .rfc822Size]
    public static let fullMacro: [FetchAttribute] = [.flags, .internalDate, .rfc822Size, .envelope, .body]
}

/// "<" number "." nz-number ">": octets from `offset`, at most `length`.
public struct Partial: Hashable, Sendable {
    public var offset: UInt32
    public var length: UInt32

    public init(offset: UInt32, length: UInt32) {
        self.offset = offset
        self.length = length
    }
}

/// section-spec: an optional part path ("1.2.3") and what of it.
/// An empty spec, `BODY[]`, is the whole message.
public struct SectionSpec: Hashable, Sendable {
    public var part: [UInt32]
    public var text: SectionText?

    public init(part: [UInt32] = [], text: SectionText? = nil) {
        self.part = part
        self.text = text
    }
}

/// section-msgtext / "MIME"; header field names are uppercased.
public enum SectionText: Hashable, Sendable {
    case header
    case headerFields([String])
    case headerFieldsNot([String])
    case text
    /// Only after a part number (RFC 3501 §6.4.5).
    case mime
}

extension IMAPInput {
    /// fetch-att list: "ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"
    mutating func fetchAttributes() throws(Failure) -> [FetchAttribute] {
        guard skip(UInt8(ascii: "(")) else {
            let start = index
            switch try keyword("fetch attribute") {
            case "ALL": return FetchAttribute.allMacro
            case "FAST": return FetchAttribute.fastMacro
            case "FULL": return FetchAttribute.fullMacro
            default:
                index = start
                return [try fetchAttribute()]
            }
        }
        var attributes: [FetchAttribute] = []
        repeat {
            attributes.append(try fetchAttribute())
            try checkCount(attributes.count)
        } while skip(UInt8(ascii: " "))
        try expect(UInt8(ascii: ")"), "\")\" after fetch attributes")
        return attributes
    }

    /// fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
    ///             "BODY" ["STRUCTURE"] / "UID" / "BODY" section ["<" number "." nz-number ">"] /
    ///             "BODY.PEEK" section ["<" number "." nz-number ">"]
    mutating func fetchAttribute() throws(Failure) -> FetchAttribute {
        let name = try keyword("fetch attribute")
        switch name {
        case "ENVELOPE": return .envelope
        case "FLAGS": return .flags
        case "INTERNALDATE": return .internalDate
        case "RFC822": return .rfc822
        case "RFC822.HEADER": return .rfc822Header
        case "RFC822.SIZE": return .rfc822Size
        case "RFC822.TEXT": return .rfc822Text
        case "BODYSTRUCTURE": return .bodyStructure
        case "UID": return .uid
        case "BODY", "BODY.PEEK":
            guard peek(is: UInt8(ascii: "[")) else {
                guard name == "BODY" else { throw .expected("section after BODY.PEEK") }
                return .body
            }
            let section = try section()
            let partial = try partial()
            return .bodySection(peek: name == "BODY.PEEK", section: section, partial: partial)
        default:
            throw .expected("fetch attribute, not \(name.prefix(32))")
        }
    }

    /// section = "[" [section-spec] "]"
    /// section-spec = section-msgtext / (section-part ["." section-text])
    /// section-part = nz-number *("." nz-number)
    mutating func section() throws(Failure) -> SectionSpec {
        try expect(UInt8(ascii: "["), "\"[\"")
        var spec = SectionSpec()
        if skip(UInt8(ascii: "]")) { return spec }
        // After "1." either another part number or a section-text follows.
        var afterDot = false
        while let byte = peek, IMAPCharacters.isDigit(byte) {
            spec.part.append(try nonZeroNumber())
            try checkCount(spec.part.count)
            afterDot = skip(UInt8(ascii: "."))
            guard afterDot else { break }
        }
        if afterDot || !peek(is: UInt8(ascii: "]")) {
            spec.text = try sectionText(afterPart: !spec.part.isEmpty)
        }
        try expect(UInt8(ascii: "]"), "\"]\" after section")
        return spec
    }

    /// section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
    /// section-text = section-msgtext / "MIME"
    mutating func sectionText(afterPart: Bool) throws(Failure) -> SectionText {
        let name = take { IMAPCharacters.isAlpha($0) || $0 == UInt8(ascii: ".") }
        switch String(decoding: name, as: UTF8.self).uppercased() {
        case "HEADER": return .header
        case "TEXT": return .text
        case "MIME" where afterPart: return .mime
        case "HEADER.FIELDS":
            try space()
            return .headerFields(try headerList())
        case "HEADER.FIELDS.NOT":
            try space()
            return .headerFieldsNot(try headerList())
        default:
            throw .expected("section HEADER, HEADER.FIELDS, TEXT or MIME")
        }
    }

    /// header-list = "(" header-fld-name *(SP header-fld-name) ")"
    mutating func headerList() throws(Failure) -> [String] {
        try expect(UInt8(ascii: "("), "\"(\" before header names")
        var names: [String] = []
        repeat {
            names.append(try text("header field name").uppercased())
            try checkCount(names.count)
        } while skip(UInt8(ascii: " "))
        try expect(UInt8(ascii: ")"), "\")\" after header names")
        return names
    }

    /// ["<" number "." nz-number ">"]
    mutating func partial() throws(Failure) -> Partial? {
        guard skip(UInt8(ascii: "<")) else { return nil }
        let offset = try number()
        try expect(UInt8(ascii: "."), "\".\" in partial")
        let length = try nonZeroNumber()
        try expect(UInt8(ascii: ">"), "\">\" after partial")
        return Partial(offset: offset, length: length)
    }
}
