import Testing
@testable import MailMessage

@Suite("Quoted-printable and base64 decoding")
struct TransferEncodingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var input: String
        var expected: [UInt8]
        var invalid = false
        var testDescription: String { input.debugDescription }

        init(_ input: String, _ expected: String, invalid: Bool = false) {
            self.input = input
            self.expected = Array(expected.utf8)
            self.invalid = invalid
        }

        init(_ input: String, bytes: [UInt8], invalid: Bool = false) {
            self.input = input
            self.expected = bytes
            self.invalid = invalid
        }
    }

    static let quotedPrintableCases: [Case] = [
        Case("Gr=C3=BC=C3=9Fe", "Grüße"),
        Case("lower =c3=bc", "lower ü"),
        Case("soft=\r\nbreak", "softbreak"),
        Case("soft=\nbreak", "softbreak"),
        Case("padded soft=  \t\r\nbreak", "padded softbreak"),
        Case("trailing   \r\nspace\t\n", "trailing\r\nspace\n"),
        Case("inner  spaces kept", "inner  spaces kept"),
        Case("a=zzb", "a=zzb", invalid: true),
        Case("a= b", "a= b", invalid: true),
        Case("ends with =3", "ends with =3", invalid: true),
        Case("dangling soft break=", "dangling soft break"),
        Case("=00=FF", bytes: [0x00, 0xFF]),
        Case("", ""),
    ]

    @Test("quoted-printable", arguments: quotedPrintableCases)
    func quotedPrintable(_ test: Case) {
        #expect(QuotedPrintable.decode(Array(test.input.utf8)) == test.expected)
        // Same result when the input arrives one byte at a time.
        var decoder = QuotedPrintable.Decoder()
        var out: [UInt8] = []
        for byte in test.input.utf8 { decoder.decode(CollectionOfOne(byte), into: &out) }
        decoder.finish(into: &out)
        #expect(out == test.expected)
        #expect(decoder.sawInvalidEscape == test.invalid)
    }

    static let base64Cases: [Case] = [
        Case("SGVsbG8=", "Hello"),
        Case("SGVs\r\nbG8=\r\n", "Hello"),
        Case("SGVsbG8", "Hello"),
        Case("SGk=SGk=", "HiHi"),
        Case("SGV*sbG8=", "Hello", invalid: true),
        Case("SGVsbG8gV", "Hello ", invalid: true),
        Case("SGVsbG8_-w", bytes: Array("Hello".utf8) + [0x3F, 0xFB]),
        Case("====", ""),
        Case("", ""),
        Case("%%%%", "", invalid: true),
    ]

    @Test("base64", arguments: base64Cases)
    func base64(_ test: Case) {
        #expect(Base64.decode(Array(test.input.utf8)) == test.expected)
        var decoder = Base64.Decoder()
        var out: [UInt8] = []
        for byte in test.input.utf8 { decoder.decode(CollectionOfOne(byte), into: &out) }
        decoder.finish(into: &out)
        #expect(out == test.expected)
        #expect(decoder.sawGarbage == test.invalid)
    }

    @Test("base64 round trip of every byte value")
    func allBytes() {
        let encoded = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BB"
            + "QkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWG\r\n"
            + "h4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrL\r\n"
            + "zM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==\r\n"
        #expect(Base64.decode(Array(encoded.utf8)) == Array(0...255))
    }
}
