/// A DKIM tag-list ([RFC 6376 §3.2](https://www.rfc-editor.org/rfc/rfc6376#section-3.2)),
/// the syntax of both the DKIM-Signature field and the key record:
///
///     tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
///     tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
///     tag-name  =  ALPHA *ALNUMPUNC
///     tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
///     tval      =  1*VALCHAR            ; VALCHAR = %x21-3A / %x3C-7E
///
/// Tag names are case-sensitive; a tag given twice makes the list invalid.
public struct DKIMTagList: Sendable, Hashable {
    public struct Tag: Sendable, Hashable {
        public var name: String
        /// The value with surrounding white space removed; inner folding kept.
        public var value: String
    }

    public private(set) var tags: [Tag]

    public init(tags: [Tag]) {
        self.tags = tags
    }

    /// The value of `name`, or nil when the tag is absent.
    public subscript(name: String) -> String? {
        tags.first { $0.name == name }?.value
    }

    public init(parsing text: some Collection<UInt8>) throws(DKIMError) {
        var tags: [Tag] = []
        let specs = text.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
        for (index, spec) in specs.enumerated() {
            let trimmed = Self.trimFWS(spec)
            if trimmed.isEmpty {
                // Only a trailing ";" may leave an empty spec behind it.
                if index == specs.count - 1 && index > 0 { break }
                throw .tagSyntax("empty tag-spec")
            }
            let tag = try Self.parseSpec(trimmed)
            if tags.contains(where: { $0.name == tag.name }) { throw .tagSyntax("duplicate tag \(tag.name)") }
            tags.append(tag)
        }
        self.tags = tags
    }

    /// tag-spec without its outer FWS.
    private static func parseSpec(_ spec: ArraySlice<UInt8>) throws(DKIMError) -> Tag {
        guard let equals = spec.firstIndex(of: UInt8(ascii: "=")) else { throw .tagSyntax("tag without \"=\"") }
        let name = trimFWS(spec[..<equals])
        guard let first = name.first, isAlpha(first),
              name.allSatisfy({ isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "_") }) else {
            throw .tagSyntax("invalid tag name")
        }
        let value = trimFWS(spec[(equals + 1)...])
        var index = value.startIndex
        while index < value.endIndex {
            switch value[index] {
            case 0x21...0x3A, 0x3C...0x7E, 0x20, 0x09:
                index += 1
            case 0x0D:
                // FWS: a line break is CRLF followed by white space.
                guard index + 2 < value.endIndex, value[index + 1] == 0x0A,
                      value[index + 2] == 0x20 || value[index + 2] == 0x09 else {
                    throw .tagSyntax("line break in a tag value that is not folding white space")
                }
                index += 3
            default:
                throw .tagSyntax("invalid character in tag value")
            }
        }
        return Tag(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
    }

    static func trimFWS(_ bytes: some Collection<UInt8>) -> ArraySlice<UInt8> {
        let array = ArraySlice(bytes)
        guard let start = array.firstIndex(where: { !isFWS($0) }) else { return [] }
        let end = array.lastIndex(where: { !isFWS($0) })!
        return array[start...end]
    }

    static func isFWS(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
    }

    private static func isAlpha(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= 0x30 && byte <= 0x39
    }
}

extension String {
    /// The text without any white space or line breaks: how base64 values
    /// (b=, bh=, p=) and colon lists (h=) are read, since FWS may appear
    /// anywhere inside them (RFC 6376 §3.5).
    var removingFWS: String {
        String(decoding: utf8.filter { !DKIMTagList.isFWS($0) }, as: UTF8.self)
    }
}
