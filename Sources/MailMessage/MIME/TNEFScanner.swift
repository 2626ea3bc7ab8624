/// Lists the names of the files inside a TNEF stream ("winmail.dat",
/// application/ms-tnef; MS-OXTNEF) as it streams past, as Outlook and
/// TNEF-aware readers list them as attachments.
///
///     TNEF      := signature(0x223E9F78, LE) key(2) *attribute
///     attribute := level(1) id(4, LE) length(4, LE) data(length) checksum(2)
///
/// Names come from attAttachTitle and attAttachTransportFilename (8-bit
/// strings, MS-OXTNEF §2.1.3.3.1) and from the MAPI properties in
/// attAttachment (`TNEFPropertyReader`). Everything else, the file data
/// included, is skipped unkept. Lengths are never trusted: they only say
/// how far to skip, and a name is kept in bounded memory (`BoundedName`).
struct TNEFScanner: Sendable {
    let limits: MIMELimits
    private(set) var found: EmbeddedNames
    /// A property list could not be read to its end (unknown type).
    private(set) var sawUnreadableProperties = false

    private enum State: Sendable {
        case signature
        case attributeHeader
        case data(Attribute, remaining: Int)
        case checksum(remaining: Int)
        /// Not TNEF after all: the rest is ignored.
        case notTNEF
    }

    /// What an attribute's data is read for.
    fileprivate enum Attribute: Sendable {
        case skipped
        case string(BoundedName)
        case properties(TNEFPropertyReader)
    }

    private var state = State.signature
    /// Octets of the signature or an attribute header collected so far.
    private var pending: [UInt8] = []

    static let signature: UInt32 = 0x223E_9F78
    /// Low words of the attribute ids (MS-OXTNEF §2.1.3.3); the high word
    /// is the type, which is not checked (readers do not either).
    static let attachTitle: UInt32 = 0x8010
    static let attachTransportFilename: UInt32 = 0x9001
    static let attachment: UInt32 = 0x9005

    init(limits: MIMELimits) {
        self.limits = limits
        found = EmbeddedNames(limits: limits)
    }

    mutating func consume(_ bytes: some Collection<UInt8>) {
        var rest = bytes[...]
        while !rest.isEmpty {
            switch state {
            case .signature, .attributeHeader:
                let needed = isAtSignature ? 6 : 9
                let taken = rest.prefix(needed - pending.count)
                pending += taken
                rest = rest.dropFirst(taken.count)
                if pending.count == needed { headerComplete() }
            case .data(var attribute, let remaining):
                state = .notTNEF // keep `attribute` uniquely referenced while it grows
                let taken = rest.prefix(remaining)
                rest = rest.dropFirst(taken.count)
                attribute.consume(taken)
                if taken.count == remaining {
                    end(attribute)
                    state = .checksum(remaining: 2)
                } else {
                    state = .data(attribute, remaining: remaining - taken.count)
                }
            case .checksum(let remaining):
                let taken = min(remaining, rest.count)
                rest = rest.dropFirst(taken)
                state = taken == remaining ? .attributeHeader : .checksum(remaining: remaining - taken)
            case .notTNEF:
                return
            }
        }
    }

    /// Ends the body: a name attribute cut short is read as far as it went.
    mutating func finish() {
        if case .data(let attribute, _) = state { end(attribute) }
        state = .notTNEF
    }

    private var isAtSignature: Bool {
        if case .signature = state { return true }
        return false
    }

    private mutating func headerComplete() {
        defer { pending.removeAll(keepingCapacity: true) }
        if isAtSignature {
            state = Self.uint32(pending, at: 0) == Self.signature ? .attributeHeader : .notTNEF
            return
        }
        let attribute: Attribute
        switch Self.uint32(pending, at: 1) & 0xFFFF {
        case Self.attachTitle, Self.attachTransportFilename: attribute = .string(BoundedName(limits: limits))
        case Self.attachment: attribute = .properties(TNEFPropertyReader(limits: limits))
        default: attribute = .skipped
        }
        state = .data(attribute, remaining: Int(Self.uint32(pending, at: 5)))
        if case .data(let attribute, 0) = state {
            end(attribute)
            state = .checksum(remaining: 2)
        }
    }

    private mutating func end(_ attribute: Attribute) {
        switch attribute {
        case .skipped:
            break
        case .string(let name):
            found.append(TNEFPropertyReader.string8(name.bytes))
        case .properties(var reader):
            reader.finish()
            reader.names.forEach { found.append($0) }
            if reader.sawTooMany { found.markTooMany() }
            if reader.isUnreadable { sawUnreadableProperties = true }
        }
    }

    static func uint32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}

extension TNEFScanner.Attribute {
    fileprivate mutating func consume(_ bytes: some Collection<UInt8>) {
        switch self {
        case .skipped:
            break
        case .string(var name):
            self = .skipped
            name.append(bytes)
            self = .string(name)
        case .properties(var reader):
            self = .skipped
            reader.consume(bytes)
            self = .properties(reader)
        }
    }
}
