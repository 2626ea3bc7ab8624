import MailMessage

extension IMAPMessage {
    /// BODYSTRUCTURE (`extensible`: with the extension data of RFC 3501
    /// §7.4.2: MD5, disposition, language, location) or BODY (without).
    ///
    /// Types, subtypes, parameter names and encodings are lowercase (they
    /// are case-insensitive; `MIMEParser` lowercases them); text parts
    /// without a charset say us-ascii (RFC 2045 §5.2); sizes are the body's
    /// octets as stored, lines its LF count. Otherwise this is what Dovecot
    /// answers (compared in IMAPMessageDovecotTests).
    public func bodyStructure(extensible: Bool) -> [UInt8] {
        var out: [UInt8] = []
        structure(mime.root, extensible: extensible, into: &out)
        return out
    }

    /// body = "(" (body-type-1part / body-type-mpart) ")"
    private func structure(_ part: MIMEPart, extensible: Bool, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "("))
        if part.contentType.isMultipart {
            // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
            for child in part.servedParts { structure(child, extensible: extensible, into: &out) }
            out.append(UInt8(ascii: " "))
            out += IMAPWire.string(Array(part.contentType.subtype.utf8))
            if extensible {
                out += [UInt8(ascii: " ")] + Self.parameters(part.contentType.parameters, addingCharset: false)
                out += [UInt8(ascii: " ")] + extensionFields(part)
            }
        } else {
            onePart(part, extensible: extensible, into: &out)
        }
        out.append(UInt8(ascii: ")"))
    }

    /// body-type-basic / body-type-msg / body-type-text, with body-ext-1part.
    private func onePart(_ part: MIMEPart, extensible: Bool, into out: inout [UInt8]) {
        let type = part.contentType
        out += IMAPWire.string(Array(type.type.utf8)) + [UInt8(ascii: " ")] + IMAPWire.string(Array(type.subtype.utf8))
        // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
        out += [UInt8(ascii: " ")] + Self.parameters(type.parameters, addingCharset: type.isText)
        out += [UInt8(ascii: " ")] + Self.field(part, "Content-ID")
        out += [UInt8(ascii: " ")] + Self.field(part, "Content-Description")
        out += [UInt8(ascii: " ")] + IMAPWire.string(Array(part.transferEncoding.name.utf8))
        out += Array(" \(part.bodyRange.count)".utf8)
        if type.isEncapsulatedMessage {
            // body-type-msg: ... SP envelope SP body SP body-fld-lines
            let nested = part.servedMessage ?? MIMEPart(path: part.path + [1])
            out += [UInt8(ascii: " ")] + Self.envelope(nested.headers) + [UInt8(ascii: " ")]
            structure(nested, extensible: extensible, into: &out)
            out += Array(" \(lineCount(part))".utf8)
        } else if type.isText {
            out += Array(" \(lineCount(part))".utf8)
        }
        if extensible {
            // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
            out += [UInt8(ascii: " ")] + Self.field(part, "Content-MD5")
            out += [UInt8(ascii: " ")] + extensionFields(part)
        }
    }

    /// body-fld-dsp SP body-fld-lang SP body-fld-loc
    private func extensionFields(_ part: MIMEPart) -> [UInt8] {
        var out: [UInt8]
        if let disposition = part.disposition {
            // body-fld-dsp = "(" string SP body-fld-param ")" / nil
            out = [UInt8(ascii: "(")] + IMAPWire.string(Array(disposition.type.utf8)) + [UInt8(ascii: " ")]
                + Self.parameters(disposition.parameters, addingCharset: false) + [UInt8(ascii: ")")]
        } else {
            out = IMAPWire.nilAtom
        }
        out += [UInt8(ascii: " ")] + Self.languages(part)
        out += [UInt8(ascii: " ")] + Self.field(part, "Content-Location")
        return out
    }

    /// An nstring of the first field named `name`, as it arrived.
    private static func field(_ part: MIMEPart, _ name: String) -> [UInt8] {
        IMAPWire.nstring(part.headers.first(name)?.rawValueBytes)
    }

    /// body-fld-lang = nstring / "(" string *(SP string) ")": Content-Language's
    /// tags (RFC 3282), always as a list, as Dovecot writes them.
    private static func languages(_ part: MIMEPart) -> [UInt8] {
        guard let field = part.headers.first("Content-Language") else { return IMAPWire.nilAtom }
        var tags: [[UInt8]] = []
        var current: [UInt8] = []
        var commentDepth = 0
        for byte in field.rawValueBytes + [UInt8(ascii: ",")] {
            switch byte {
            case UInt8(ascii: "("): commentDepth += 1
            case UInt8(ascii: ")"): commentDepth = max(commentDepth - 1, 0)
            case UInt8(ascii: ","):
                if commentDepth == 0, !current.isEmpty { tags.append(current) }
                if commentDepth == 0 { current = [] }
            case UInt8(ascii: " "), UInt8(ascii: "\t"): break
            default: if commentDepth == 0 { current.append(byte) }
            }
        }
        guard !tags.isEmpty else { return IMAPWire.nilAtom }
        return [UInt8(ascii: "(")] + Array(tags.map(IMAPWire.string).joined(separator: [UInt8(ascii: " ")])) + [UInt8(ascii: ")")]
    }

    /// body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
    ///
    /// RFC 2231 values (already joined and decoded by `MIMEParameters`) that
    /// are not ASCII go back out as one `name*` in UTF-8, which clients
    /// decode; everything else as plain `name value`.
    static func parameters(_ parameters: MIMEParameters, addingCharset: Bool) -> [UInt8] {
        var pairs: [([UInt8], [UInt8])] = []
        if addingCharset, parameters.parameter("charset") == nil {
            pairs.append((Array("charset".utf8), Array("us-ascii".utf8)))
        }
        for parameter in parameters.all {
            let value = Array(parameter.value.utf8)
            if parameter.isExtended, value.contains(where: { $0 >= 0x80 }) {
                pairs.append((Array((parameter.name + "*").utf8), extendedValue(value, language: parameter.language)))
            } else {
                pairs.append((Array(parameter.name.utf8), value))
            }
        }
        guard !pairs.isEmpty else { return IMAPWire.nilAtom }
        var out: [UInt8] = [UInt8(ascii: "(")]
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out.append(UInt8(ascii: " ")) }
            out += IMAPWire.string(pair.0) + [UInt8(ascii: " ")] + IMAPWire.string(pair.1)
        }
        out.append(UInt8(ascii: ")"))
        return out
    }

    /// attribute-char punctuation: token characters other than "*", "'", "%" (RFC 2231 §7).
    private static let attributePunctuation: Set<UInt8> = Set("!#$&+-.^_`|~".utf8)

    /// extended-initial-value = charset "'" [language] "'" extended-other-values
    /// (RFC 2231 §7), in UTF-8, attribute-chars kept and the rest %XX.
    static func extendedValue(_ value: [UInt8], language: String?) -> [UInt8] {
        let tag = (language ?? "").utf8.filter { IMAPCharacters.isAlpha($0) || IMAPCharacters.isDigit($0) || $0 == UInt8(ascii: "-") }
        var out = Array("utf-8'".utf8) + tag + [UInt8(ascii: "'")]
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in value {
            if IMAPCharacters.isAlpha(byte) || IMAPCharacters.isDigit(byte) || attributePunctuation.contains(byte) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return out
    }
}
