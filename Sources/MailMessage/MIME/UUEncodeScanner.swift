/// Finds the names of files encoded inline in a text body, as it streams
/// past. Outlook and Thunderbird list such a file as an attachment:
///
///     begin 644 name.exe                  uuencode (POSIX uuencode; mode in octal)
///     begin-base64 644 name.exe           its base64 form
///     =ybegin line=128 size=9 name=a.exe  yEnc 1.3 (name is last on the line)
///
/// Only "begin" lines are looked at; the encoded lines after them are not
/// decoded (the name is all a policy needs), and of a long line only the
/// start and end are kept (`BoundedName`).
struct UUEncodeScanner: Sendable {
    private(set) var found: EmbeddedNames
    private var line: BoundedName
    /// The current line cannot be a "begin" line; skip to its end.
    private var isSkippingLine = false

    private static let uuencodeBegin = Array("begin".utf8)
    private static let yEncBegin = Array("=ybegin ".utf8)

    init(limits: MIMELimits) {
        found = EmbeddedNames(limits: limits)
        line = BoundedName(limits: limits)
    }

    mutating func consume(_ bytes: some Collection<UInt8>) {
        var rest = bytes[...]
        while !rest.isEmpty {
            let newline = rest.firstIndex(of: UInt8(ascii: "\n"))
            let piece = rest[..<(newline ?? rest.endIndex)]
            if !isSkippingLine {
                line.append(piece)
                // Decide early whether the line can be a "begin" line at all.
                let start = line.head.prefix(Self.yEncBegin.count)
                isSkippingLine = !Self.uuencodeBegin.starts(with: start.prefix(5)) && !Self.yEncBegin.starts(with: start)
            }
            guard let newline else { return }
            endLine()
            rest = rest[rest.index(after: newline)...]
        }
    }

    /// Ends the body: a last line without a line break counts too.
    mutating func finish() {
        endLine()
    }

    private mutating func endLine() {
        defer {
            line.reset()
            isSkippingLine = false
        }
        guard !isSkippingLine else { return }
        var text = line.bytes
        if text.last == UInt8(ascii: "\r") { text.removeLast() }
        guard let name = Self.uuencodeName(text) ?? Self.yEncName(text) else { return }
        found.append(Charset.decodeWithFallback(name))
    }

    /// "begin" ["-base64"] SP 1*octal-digit SP name
    static func uuencodeName(_ line: [UInt8]) -> ArraySlice<UInt8>? {
        var rest = line[...]
        guard rest.starts(with: uuencodeBegin) else { return nil }
        rest = rest.dropFirst(uuencodeBegin.count)
        if rest.starts(with: Array("-base64".utf8)) { rest = rest.dropFirst(7) }
        guard rest.first == UInt8(ascii: " ") else { return nil }
        rest = rest.drop { $0 == UInt8(ascii: " ") }
        let mode = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }
        guard !mode.isEmpty, rest.dropFirst(mode.count).first == UInt8(ascii: " ") else { return nil }
        return rest.dropFirst(mode.count + 1)
    }

    /// "=ybegin " ... " name=" name (the rest of the line).
    static func yEncName(_ line: [UInt8]) -> ArraySlice<UInt8>? {
        guard line.starts(with: yEncBegin) else { return nil }
        let key = Array(" name=".utf8)
        var index = yEncBegin.count - 1
        while index + key.count <= line.count {
            if line[index..<index + key.count].elementsEqual(key) { return line[(index + key.count)...] }
            index += 1
        }
        return nil
    }
}
