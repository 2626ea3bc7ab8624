/// One parameter of Content-Type or Content-Disposition after RFC 2231
/// sections have been joined and decoded.
public struct MIMEParameter: Sendable, Equatable {
    /// Lowercased attribute name without RFC 2231 markers ("filename").
    public var name: String
    /// The value: unquoted, and for RFC 2231 values percent-decoded and
    /// converted from their charset. RFC 2047 words are *not* decoded here
    /// (a boundary must stay byte-exact); see `decodedValue`.
    public var value: String
    /// RFC 2231 charset and language (lowercased), when the value had them.
    public var charset: String?
    public var language: String?
    /// The value came from the RFC 2231 extended syntax (`name*=`, `name*0*=`).
    public var isExtended: Bool
    /// Other values given for the same name: a plain `filename=` beside a
    /// `filename*=`, or a repeated parameter. Readers disagree on which one
    /// wins, so a policy that wants to be safe looks at all of them.
    public var alternateValues: [String]

    public init(name: String, value: String, charset: String? = nil, language: String? = nil,
                isExtended: Bool = false, alternateValues: [String] = []) {
        self.name = name
        self.value = value
        self.charset = charset
        self.language = language
        self.isExtended = isExtended
        self.alternateValues = alternateValues
    }

    /// The value for display and matching: RFC 2047 encoded words decoded
    /// when the value was not RFC 2231 encoded. Encoded words in quoted
    /// parameters are not allowed by RFC 2047 §5 but are what many mailers
    /// send (`filename="=?UTF-8?B?...?="`), and what readers show.
    public var decodedValue: String {
        isExtended ? value : EncodedWord.decode(value)
    }

    /// `decodedValue` followed by the decoded alternate values, without
    /// duplicates.
    public var allDecodedValues: [String] {
        var seen: [String] = []
        for candidate in [decodedValue] + alternateValues.map(EncodedWord.decode) where !seen.contains(candidate) {
            seen.append(candidate)
        }
        return seen
    }
}

/// The parameters of one header field, in the order they first appeared.
public struct MIMEParameters: Sendable, Equatable {
    public var all: [MIMEParameter]
    /// The field had more parameters than `MIMELimits.maxParameters`.
    public var droppedParameters = false
    /// Parameters split into more RFC 2231 sections than
    /// `MIMELimits.maxParameterSections`; the rest of each was dropped.
    public var truncatedNames: [String] = []

    public init(_ all: [MIMEParameter] = []) {
        self.all = all
    }

    public var isEmpty: Bool { all.isEmpty }

    /// The parameter named `name` (case-insensitive).
    public func parameter(_ name: String) -> MIMEParameter? {
        let lowered = name.lowercased()
        return all.first { $0.name == lowered }
    }

    /// The value of the parameter named `name` (case-insensitive).
    public subscript(_ name: String) -> String? {
        parameter(name)?.value
    }

    /// Names given more than once with different values.
    public var conflictingNames: [String] {
        all.filter { parameter in parameter.alternateValues.contains { $0 != parameter.value } }.map(\.name)
    }

    /// Joins RFC 2231 sections (§3), decodes extended values (§4) and folds
    /// duplicates into `alternateValues`. When a name has both an extended
    /// and a plain form, the extended one wins, as RFC 2231-aware readers do.
    init(raw: [RawMIMEParameter], droppedParameters: Bool = false, limits: MIMELimits) {
        var order: [String] = []
        var groups: [String: [RawMIMEParameter]] = [:]
        for parameter in raw {
            if groups[parameter.name] == nil { order.append(parameter.name) }
            groups[parameter.name, default: []].append(parameter)
        }
        all = []
        for name in order {
            guard let group = groups[name] else { continue }
            let sections = SectionReadings(group.filter { $0.section != nil }, limits: limits)
            if sections.truncated { truncatedNames.append(name) }
            all.append(Self.merge(name: name, group, sections: sections))
        }
        self.droppedParameters = droppedParameters
    }

    private static func merge(name: String, _ group: [RawMIMEParameter], sections: SectionReadings) -> MIMEParameter {
        let plain = group.filter { $0.section == nil && !$0.isExtended }.map(\.value)
        let single = group.filter { $0.section == nil && $0.isExtended }
        var candidates: [MIMEParameter] = []
        if let first = single.first {
            candidates.append(decodeExtended([first]))
        }
        candidates += sections.readings.map(decodeExtended)
        candidates += single.dropFirst().map { decodeExtended([$0]) }
        candidates += plain.map { MIMEParameter(name: name, value: $0) }
        // `group` is never empty, so neither is `candidates`.
        guard var chosen = candidates.first else { return MIMEParameter(name: name, value: "") }
        chosen.name = name
        chosen.alternateValues = candidates.dropFirst().map(\.value)
        return chosen
    }

    /// Decodes one extended value or the ordered sections of one. Only the
    /// first section carries `charset'language'` (RFC 2231 §4.1); sections
    /// without a trailing "*" are taken literally.
    private static func decodeExtended(_ parts: [RawMIMEParameter]) -> MIMEParameter {
        var bytes: [UInt8] = []
        var charset: String?
        var language: String?
        var anyExtended = false
        for (position, part) in parts.enumerated() {
            guard part.isExtended else {
                bytes += Array(part.value.utf8)
                continue
            }
            anyExtended = true
            var encoded = Substring(part.value)
            if position == 0 {
                let pieces = encoded.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
                if pieces.count == 3 {
                    charset = pieces[0].isEmpty ? nil : pieces[0].lowercased()
                    language = pieces[1].isEmpty ? nil : pieces[1].lowercased()
                    encoded = pieces[2]
                }
            }
            bytes += percentDecode(encoded.utf8)
        }
        let name = parts.first?.name ?? ""
        let value = Charset.decode(bytes, charset: charset)
        return MIMEParameter(name: name, value: value, charset: charset, language: language,
                             isExtended: anyExtended)
    }

    /// "%XX" to the byte; a "%" not followed by two hex digits stays as is.
    static func percentDecode(_ text: some Collection<UInt8>) -> [UInt8] {
        let bytes = Array(text)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = QuotedPrintable.Decoder.hexValue(bytes[index + 1]),
               let low = QuotedPrintable.Decoder.hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }
}

/// The ways readers join one parameter's RFC 2231 §3 sections: in number
/// order with the first of a repeated number, or with the last, or only up
/// to the first missing number. Each distinct reading is kept.
struct SectionReadings {
    var readings: [[RawMIMEParameter]] = []
    /// More than `maxParameterSections` numbers: the rest were dropped.
    var truncated = false

    init(_ sections: [RawMIMEParameter], limits: MIMELimits) {
        var first: [Int: RawMIMEParameter] = [:]
        var last: [Int: RawMIMEParameter] = [:]
        for parameter in sections {
            guard let number = parameter.section else { continue }
            if first[number] == nil {
                guard first.count < limits.maxParameterSections else {
                    truncated = true
                    continue
                }
                first[number] = parameter
            }
            last[number] = parameter
        }
        let numbers = first.keys.sorted()
        let contiguous = numbers.enumerated().prefix { $0.offset == $0.element }.map(\.element)
        for reading in [numbers.compactMap { first[$0] }, numbers.compactMap { last[$0] },
                        contiguous.compactMap { first[$0] }]
        where !reading.isEmpty && !readings.contains(reading) {
            readings.append(reading)
        }
    }
}
