import Foundation
import Testing
@testable import MailMessage

/// Builds TNEF streams (MS-OXTNEF) for the scanner tests.
enum TNEFFixture {
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    static func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4) }

    static let header = le32(0x223E_9F78) + [0x01, 0x00]

    /// level id length data checksum; `length` overrides the true length.
    static func attribute(_ id: UInt32, _ data: [UInt8], level: UInt8 = 2, length: UInt32? = nil) -> [UInt8] {
        let sum = data.reduce(0) { ($0 + Int($1)) & 0xFFFF }
        return [level] + le32(id) + le32(length ?? UInt32(data.count)) + data + le16(UInt16(sum))
    }

    static func title(_ name: String) -> [UInt8] { attribute(0x0001_8010, Array(name.utf8) + [0]) }

    /// A PtypString (UTF-16LE) property, count-prefixed as TNEF writes it.
    static func unicode(_ id: UInt16, _ text: String) -> [UInt8] {
        let raw: [UInt8] = text.utf16.flatMap { (unit: UInt16) -> [UInt8] in le16(unit) } + [0, 0]
        return le16(0x001F) + le16(id) + le32(1) + le32(UInt32(raw.count)) + padded(raw)
    }

    static func string8(_ id: UInt16, _ text: String) -> [UInt8] {
        let raw = Array(text.utf8) + [0]
        return le16(0x001E) + le16(id) + le32(1) + le32(UInt32(raw.count)) + padded(raw)
    }

    static func properties(_ list: [[UInt8]]) -> [UInt8] {
        attribute(0x0006_9005, le32(UInt32(list.count)) + list.flatMap { $0 })
    }

    static let fileData = attribute(0x0006_800F, Array("MZ".utf8) + [UInt8](repeating: 0x90, count: 300))
    static let long32 = le16(0x0003) + le16(0x0E21) + le32(7)
    static let binary = le16(0x0102) + le16(0x3701) + le32(1) + le32(5) + padded([1, 2, 3, 4, 5])
    static let named = le16(0x001F) + le16(0x8005) + [UInt8](repeating: 7, count: 16) + le32(1)
        + le32(6) + padded(Array("a\0b\0c\0".utf8)) + le32(1) + le32(4) + [0x41, 0, 0, 0]
    static let multiValuedLong = le16(0x1003) + le16(0x6000) + le32(3) + le32(1) + le32(2) + le32(3)
}

@Suite("Files inside bodies: uuencode, yEnc and TNEF names")
struct EmbeddedFileTests {
    static func scanText(_ text: String, chunk: Int) -> [String] {
        var scanner = UUEncodeScanner(limits: MIMEDefaults.limits)
        let bytes = Array(text.utf8)
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            scanner.consume(bytes[start..<min(bytes.count, start + chunk)])
        }
        scanner.finish()
        return scanner.found.names
    }

    struct TextCase: Sendable, CustomTestStringConvertible {
        var text: String
        var names: [String]
        var testDescription: String { text.debugDescription }
    }

    @Test("begin lines in text", arguments: [
        TextCase(text: "hello\nbegin 644 evil.exe\nM35J0\n`\nend\n", names: ["evil.exe"]),
        TextCase(text: "begin 0755 a b.scr\r\n", names: ["a b.scr"]),
        TextCase(text: "begin-base64 644 tool.js\nTVo=\n====\n", names: ["tool.js"]),
        TextCase(text: "=ybegin line=128 size=42 name=yenc file.exe\n=yend size=42\n", names: ["yenc file.exe"]),
        TextCase(text: "x\nbegin 644 last.exe", names: ["last.exe"]),
        TextCase(text: "begin 644 one.exe\nbegin 644 two.exe\nbegin 644 one.exe\n", names: ["one.exe", "two.exe"]),
        TextCase(text: "begin at 9\nbegin 8 x.exe\nbegin 644\n begin 644 indented.exe\nbeginning 644 a.exe\n", names: []),
        TextCase(text: "=ybegin line=128 size=42\n", names: []),
    ])
    func textNames(_ test: TextCase) {
        #expect(Self.scanText(test.text, chunk: 1 << 20) == test.names)
        for chunk in [1, 2, 3, 7] {
            #expect(Self.scanText(test.text, chunk: chunk) == test.names)
        }
    }

    @Test("a name longer than kept keeps its start and extension")
    func longName() {
        let name = String(repeating: "n", count: 5000) + ".exe"
        let found = Self.scanText("begin 644 \(name)\n", chunk: 100)
        let limits = MIMEDefaults.limits
        #expect(found.count == 1)
        #expect(found.first?.hasSuffix(".exe") == true)
        #expect(found.first?.utf8.count == limits.maxEmbeddedNameLength - "begin 644 ".count + limits.maxEmbeddedNameTail)
    }

    @Test("too many names are a defect")
    func tooMany() {
        var limits = MIMELimits()
        limits.maxEmbeddedNames = 2
        let text = (1...3).map { "begin 644 f\($0).exe\n" }.joined()
        let message = MIMEParser.parse(messageBytes("Content-Type: text/plain\n\n" + text), limits: limits)
        #expect(message.root.embeddedFileNames == ["f1.exe", "f2.exe"])
        #expect(message.root.defects == [.tooManyEmbeddedNames])
    }

    static func scanTNEF(_ bytes: [UInt8], chunk: Int) -> TNEFScanner {
        var scanner = TNEFScanner(limits: MIMEDefaults.limits)
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            scanner.consume(bytes[start..<min(bytes.count, start + chunk)])
        }
        scanner.finish()
        return scanner
    }

    struct TNEFCase: Sendable, CustomTestStringConvertible {
        var label: String
        var bytes: [UInt8]
        var names: [String]
        var unreadable = false
        var testDescription: String { label }
    }

    typealias T = TNEFFixture

    @Test("TNEF attachment names", arguments: [
        TNEFCase(label: "attAttachTitle", bytes: T.header + T.title("evil.exe") + T.fileData, names: ["evil.exe"]),
        TNEFCase(label: "long filename among other properties",
                 bytes: T.header + T.title("EVIL~1.EXE") + T.fileData
                    + T.properties([T.long32, T.binary, T.named, T.multiValuedLong, T.unicode(0x3707, "Rechnung März.exe")]),
                 names: ["EVIL~1.EXE", "Rechnung März.exe"]),
        TNEFCase(label: "8-bit filename and display name",
                 bytes: T.header + T.properties([T.string8(0x3704, "short.scr"), T.unicode(0x3001, "shown.js")]),
                 names: ["short.scr", "shown.js"]),
        TNEFCase(label: "transport filename, message-level attribute",
                 bytes: T.header + T.attribute(0x0001_9001, Array("t.exe\0".utf8), level: 1), names: ["t.exe"]),
        TNEFCase(label: "not TNEF", bytes: T.le32(0x1234_5678) + [0, 0] + T.title("evil.exe"), names: []),
        TNEFCase(label: "length past the end: read as far as it goes",
                 bytes: T.header + [2] + T.le32(0x0001_8010) + T.le32(0xFFFF_FFF0) + Array("cut.exe".utf8), names: ["cut.exe"]),
        TNEFCase(label: "huge length skips the rest",
                 bytes: T.header + T.attribute(0x0006_800F, [1, 2], length: 0x7FFF_FFFF) + T.title("hidden.exe"), names: []),
        TNEFCase(label: "property count larger than the list",
                 bytes: T.header + T.attribute(0x0006_9005, T.le32(0xFFFF_FFFF) + T.unicode(0x3707, "a.exe")) + T.title("b.txt"),
                 names: ["a.exe", "b.txt"]),
        TNEFCase(label: "value count and length that lie",
                 bytes: T.header + T.attribute(0x0006_9005, T.le32(1) + T.le16(0x001F) + T.le16(0x3707) + T.le32(0xFFFF_FFFF)
                                                  + T.le32(0xFFFF_FFFF) + [0x78, 0]) + T.title("after.exe"),
                 names: ["x", "after.exe"]),
        TNEFCase(label: "unknown property type", bytes: T.header + T.properties([T.le16(0x0999) + T.le16(1) + T.le32(0)]),
                 names: [], unreadable: true),
        TNEFCase(label: "zero-length title", bytes: T.header + T.attribute(0x0001_8010, []) + T.title("z.exe"), names: ["z.exe"]),
        TNEFCase(label: "signature only", bytes: T.header, names: []),
    ])
    func tnefNames(_ test: TNEFCase) {
        for chunk in [1, 3, 64, 1 << 20] {
            let scanner = Self.scanTNEF(test.bytes, chunk: chunk)
            #expect(scanner.found.names == test.names, "chunk \(chunk)")
            #expect(scanner.sawUnreadableProperties == test.unreadable, "chunk \(chunk)")
        }
    }

    @Test("one attribute of many tiny name properties is bounded while it streams")
    func tnefManyNamesInOneAttribute() {
        let count = TNEFPropertyReader.maxNames + 50
        let properties = (0..<count).map { T.unicode(0x3707, "n\($0).exe") }
        let scanner = Self.scanTNEF(T.header + T.properties(properties), chunk: 4096)
        #expect(scanner.found.sawTooMany)
        #expect(scanner.found.names.count == MIMEDefaults.limits.maxEmbeddedNames)
    }

    @Test("winmail.dat in a message: names on the part, whatever the encoding")
    func tnefInMessage() {
        let tnef = T.header + T.title("evil.exe")
        let encoded = Data(tnef).base64EncodedString(options: .lineLength76Characters)
        let text = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/octet-stream; name=WINMAIL.DAT\n"
            + "Content-Transfer-Encoding: base64\n\n\(encoded)\n--b--\n"
        let message = MIMEParser.parse(messageBytes(text))
        #expect(message.root.children.first?.embeddedFileNames == ["evil.exe"])
    }
}
