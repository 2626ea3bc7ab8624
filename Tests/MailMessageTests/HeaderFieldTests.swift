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
