/// Reads the MAPI property list of a TNEF attAttachment attribute
/// (MS-OXTNEF §2.1.3.4) as it streams past and keeps only the attachment's
/// names: PR_ATTACH_LONG_FILENAME (0x3707), PR_ATTACH_FILENAME (0x3704)
/// and PR_DISPLAY_NAME (0x3001).
///
///     list     := count(4) *property
///     property := type(2) id(2) [named] value
///     named    := guid(16) kind(4) (lid(4) / length(4) name pad4)   when id >= 0x8000
///     value    := fixed pad4                                        single fixed-size type
///               / count(4) *(length(4) data pad4)                  string, binary, object
///               / count(4) *(fixed pad4)                           multi-valued fixed-size
///
/// Every length only says how much to skip; nothing is allocated from it.
/// A type whose size is unknown stops the reading (`isUnreadable`).
struct TNEFPropertyReader: Sendable {
    private(set) var names: [String] = []
    private(set) var isUnreadable = false
    /// More distinct names than `maxNames` came: the rest were dropped (a
    /// hostile winmail.dat of tiny name properties must not grow memory).
    private(set) var sawTooMany = false
    static let maxNames = 256

    /// The small field being collected, and what follows it.
    private enum Field: Sendable {
        case propertyCount, tag, namedGUIDAndKind, namedLID, namedLength, valueCount, valueLength, done
        var size: Int {
            switch self {
            case .namedGUIDAndKind: 20
            case .done: 0
            default: 4
            }
        }
    }

    private var field = Field.propertyCount
    private var fieldBytes: [UInt8] = []
    /// Octets to pass over before the next field; of them, the name being kept.
    private var skip = 0
    private var name: BoundedName?
    private var propertiesLeft = 0
    private var valuesLeft = 0
    private var type: UInt16 = 0
    private var id: UInt16 = 0
    private let limits: MIMELimits

    static let nameProperties: Set<UInt16> = [0x3707, 0x3704, 0x3001]
    static let multiValued: UInt16 = 0x1000

    init(limits: MIMELimits) {
        self.limits = limits
    }

    mutating func consume(_ bytes: some Collection<UInt8>) {
        var rest = bytes[...]
        while !rest.isEmpty, !isUnreadable {
            if skip > 0 {
                let taken = rest.prefix(skip)
                name?.append(taken)
                skip -= taken.count
                rest = rest.dropFirst(taken.count)
                if skip == 0 { endValue() }
                continue
            }
            guard case let size = field.size, size > 0 else { return }
            let taken = rest.prefix(size - fieldBytes.count)
            fieldBytes += taken
            rest = rest.dropFirst(taken.count)
            if fieldBytes.count == size {
                fieldComplete()
                fieldBytes.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Ends the attribute: a name cut short is kept as far as it went.
    mutating func finish() {
        endValue()
        field = .done
    }

    private mutating func fieldComplete() {
        let number = Int(TNEFScanner.uint32(fieldBytes, at: 0))
        switch field {
        case .propertyCount:
            propertiesLeft = number
            field = number == 0 ? .done : .tag
        case .tag:
            type = UInt16(number & 0xFFFF)
            id = UInt16(number >> 16)
            if id >= 0x8000 { field = .namedGUIDAndKind } else { startValue() }
        case .namedGUIDAndKind:
            field = TNEFScanner.uint32(fieldBytes, at: 16) == 0 ? .namedLID : .namedLength
        case .namedLID:
            startValue()
        case .namedLength:
            skip = Self.padded(number)
            startValue()
        case .valueCount:
            valuesLeft = number
            if Self.isVariableLength(type & ~Self.multiValued) {
                if number == 0 { endProperty() } else { field = .valueLength }
            } else {
                skip = number * Self.padded(Self.fixedSize(type & ~Self.multiValued) ?? 0)
                endProperty()
            }
        case .valueLength:
            valuesLeft -= 1
            skip = Self.padded(number)
            name = Self.nameProperties.contains(id) ? BoundedName(limits: limits) : nil
            if valuesLeft > 0 { field = .valueLength } else { endProperty() }
            if skip == 0 { endValue() }
        case .done:
            break
        }
    }

    /// After the tag (and a named property's name): how the value is laid out.
    private mutating func startValue() {
        let base = type & ~Self.multiValued
        if Self.isVariableLength(base) || type & Self.multiValued != 0 {
            field = .valueCount
        } else if let size = Self.fixedSize(base) {
            skip += Self.padded(size)
            endProperty()
        } else {
            isUnreadable = true
        }
    }

    private mutating func endProperty() {
        propertiesLeft -= 1
        field = propertiesLeft > 0 ? .tag : .done
    }

    /// A value (or padding) has been passed over: keep it if it was a name.
    private mutating func endValue() {
        guard let kept = name else { return }
        name = nil
        let text = type & ~Self.multiValued == 0x001F ? Self.unicode(kept.bytes) : Self.string8(kept.bytes)
        guard !text.isEmpty, !names.contains(text) else { return }
        if names.count < Self.maxNames { names.append(text) } else { sawTooMany = true }
    }

    /// PtypString8: 8-bit text in the message's code page, NUL-terminated.
    static func string8(_ bytes: [UInt8]) -> String {
        Charset.decodeWithFallback(bytes.reversed().drop { $0 == 0 }.reversed())
    }

    /// PtypString: UTF-16LE, NUL-terminated.
    static func unicode(_ bytes: [UInt8]) -> String {
        var units = stride(from: 0, to: bytes.count - 1, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
        while units.last == 0 { units.removeLast() }
        return String(decoding: units, as: UTF16.self)
    }

    /// Strings, binary, object and server ids: count, then length-prefixed values.
    static func isVariableLength(_ type: UInt16) -> Bool {
        [0x001E, 0x001F, 0x0102, 0x000D, 0x00FB].contains(type)
    }

    /// Sizes of the fixed-size types (MS-OXCDATA §2.11.1).
    static func fixedSize(_ type: UInt16) -> Int? {
        switch type {
        case 0x0001: 0 // PtypNull
        case 0x0002: 2
        case 0x0003, 0x0004, 0x000A, 0x000B: 4
        case 0x0005, 0x0006, 0x0007, 0x0014, 0x0040: 8
        case 0x0048: 16
        default: nil
        }
    }

    /// Values are padded to a multiple of 4 octets.
    static func padded(_ size: Int) -> Int {
        (size + 3) & ~3
    }
}
