import MailMessage

extension IMAPMessage {
    /// The octets of BODY[section] (RFC 3501 §6.4.5).
    ///
    /// - `[]` the whole message; `HEADER` its header with the empty line;
    ///   `TEXT` its body; `HEADER.FIELDS (…)` / `.NOT` the matching field
    ///   lines as they arrived, in message order, then CRLF.
    /// - Part numbers count a multipart's parts from 1; a message that is
    ///   not multipart has part 1, its body. A message/rfc822 part's
    ///   `HEADER`, `TEXT`, field lists and sub-parts address the message
    ///   inside it. `MIME` is a part's own header.
    /// - A part that does not exist, or `HEADER`/`TEXT` on a part that is
    ///   not a message, gives empty octets: the server answers "" as
    ///   Dovecot does, not an error. Like Dovecot, a part that is neither
    ///   multipart nor a message is also its own part 1 (once: "2.1" is
    ///   part 2, "2.1.1" nothing), as a message's body is its part 1.
    public func section(_ spec: SectionSpec) -> [UInt8] {
        guard !spec.part.isEmpty else { return messageSection(mime.root, spec.text) }
        guard let part = locate(spec.part) else { return [] }
        switch spec.text {
        case nil: return Array(slice(part.bodyRange))
        case .mime: return Array(slice(part.headerRange))
        case let text?:
            guard let nested = part.servedMessage else { return [] }
            return messageSection(nested, text)
        }
    }

    /// A section of the message whose top entity is `root`.
    private func messageSection(_ root: MIMEPart, _ text: SectionText?) -> [UInt8] {
        switch text {
        case nil:
            return Array(slice(root.headerStart..<max(root.headerStart, root.bodyRange.upperBound)))
        case .header?:
            return Array(slice(root.headerRange))
        case .text?:
            return Array(slice(root.bodyRange))
        case .headerFields(let names)?:
            return fieldLines(root, matching: true, names)
        case .headerFieldsNot(let names)?:
            return fieldLines(root, matching: false, names)
        case .mime?:
            return [] // MIME needs a part number (§6.4.5); the parser never gives it alone.
        }
    }

    /// The field lines of `root`'s header whose names are (or are not) in
    /// `names`, each with its folded lines and line end, then the empty line.
    private func fieldLines(_ root: MIMEPart, matching: Bool, _ names: [String]) -> [UInt8] {
        let wanted = Set(names.map { $0.lowercased() })
        var out: [UInt8] = []
        for field in HeaderSection(parsing: slice(root.headerRange)).fields
        where wanted.contains(field.name.lowercased()) == matching {
            out += field.wireBytes
        }
        return out + [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
    }

    /// The part at a section-part path ("1.2.3"), or nil.
    func locate(_ path: [UInt32]) -> MIMEPart? {
        var position = PartPosition(part: mime.root, isMessageTop: true, isOwnPartOne: false)
        for number in path {
            guard let next = position.child(Int(number)) else { return nil }
            position = next
        }
        return position.part
    }
}

/// Where a section-part path has got to.
private struct PartPosition {
    var part: MIMEPart
    /// `part` is the top entity of a message, which stands for the message.
    var isMessageTop: Bool
    /// `part` was reached as part 1 of itself, which happens once.
    var isOwnPartOne: Bool

    /// Part `number` below: a multipart's parts; the message inside a
    /// message/rfc822; a message's or a single part's own part 1.
    func child(_ number: Int) -> PartPosition? {
        if part.contentType.isMultipart {
            let parts = part.servedParts
            guard number >= 1, number <= parts.count else { return nil }
            return PartPosition(part: parts[number - 1], isMessageTop: false, isOwnPartOne: false)
        }
        if !isMessageTop, part.contentType.isEncapsulatedMessage {
            guard let nested = part.servedMessage else { return nil }
            return PartPosition(part: nested, isMessageTop: true, isOwnPartOne: false).child(number)
        }
        guard number == 1, !isOwnPartOne else { return nil }
        return PartPosition(part: part, isMessageTop: false, isOwnPartOne: true)
    }
}
