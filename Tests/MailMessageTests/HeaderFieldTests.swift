import Testing
import MailMessage

/// A header section written back with `wireBytes` parses to the same fields.
@Suite("Header fields on the wire")
struct HeaderFieldTests {
    /// Found by the header fuzz target (fuzz/header): a section cut off
    /// right after a CR was written back with a second CR, which made the
    /// first one part of the value.
    @Test("written back, parses the same", arguments: [
        "Subject: cut after CR\r", "Subject: cut\r\n\tfolded\r", "Subject: no line end", "Subject: value\r\r\n",
        "Subject: a\r\nnot a field\r",
    ])
    func roundTrip(_ text: String) {
        let section = HeaderSection(parsing: Array(text.utf8))
        let written = section.fields.flatMap(\.wireBytes)
        #expect(HeaderSection(parsing: written) == section)
        let rebuilt = section.fields.flatMap { HeaderField(name: $0.name, rawValue: $0.rawValue).wireBytes }
        #expect(HeaderSection(parsing: rebuilt) == section)
    }
}

@Suite("Header section parsing, random input")
struct HeaderSectionRandomTests {
    /// Random CRLF lines of colons, blanks and letters (folded lines and
    /// lines that are no field among them), ended by an empty line and a
    /// body: written back unchanged, the fields give the header section's
    /// octets exactly from the first field on, and no name is empty, holds
    /// a space, a colon or a line end, or starts or ends with a tab.
    @Test func fieldsGiveTheirOctetsBack() {
        var state: UInt64 = 99
        func random(_ below: Int) -> Int { // Knuth's MMIX LCG: the same inputs every run
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(below))
        }
        let alphabet = Array(": \tab:XY".utf8)
        for _ in 0..<20_000 {
            var header: [UInt8] = []
            for _ in 0..<random(6) {
                header += (0..<(1 + random(12))).map { _ in alphabet[random(alphabet.count)] } + [13, 10]
            }
            let section = HeaderSection(parsing: header + [13, 10] + Array("body: x\r\n".utf8))
            let written = section.fields.flatMap { $0.wireBytes }
            #expect(header.count >= written.count && Array(header[(header.count - written.count)...]) == written, "\(header)")
            for field in section.fields {
                let name = Array(field.name.utf8)
                #expect(!name.isEmpty && !name.contains { [32, 13, 10, 58].contains($0) } && name.first != 9 && name.last != 9,
                        "\(header)")
            }
        }
    }

    @Test func namesMatchIgnoringASCIICase() {
        #expect(HeaderField(name: "Message-ID", rawValue: "").hasName("message-id"))
        #expect(HeaderField(name: "DATE", rawValue: "").hasName("Date"))
        #expect(!HeaderField(name: "Dat@", rawValue: "").hasName("Dat`"))
        #expect(!HeaderField(name: "Date", rawValue: "").hasName("Data"))
    }
}
