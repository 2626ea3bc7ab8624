// Header sections (RFC 5322 §2.2), RFC 2047 encoded words, Content-Type and
// Content-Disposition values with RFC 2231 parameters, and the writer that
// policy filters add and change fields with. Invariants:
// - a parsed section, rendered, parses to the same fields; so does one
//   rebuilt from names and raw values (as after an edit);
// - a field written from any text is exactly one field on the wire, and
//   decodes back to that text (controls made spaces, both ends trimmed);
// - parameter lists stay within their limits.
import MailMessage
@testable import Policy

enum HeaderTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let headers = HeaderSection(parsing: bytes)
        checkRendering(headers)
        _ = EncodedWord.decode(String(decoding: bytes, as: UTF8.self))
        for field in headers.fields.prefix(16) {
            let decoded = field.decodedValue
            checkWriting(decoded)
            checkParameters(ContentType.parameters(parsing: field.value, limits: MIMETarget.limits), of: field)
            checkParameters(ContentDisposition(parsing: field.value, limits: MIMETarget.limits).parameters, of: field)
            _ = ContentType(parsing: field.value, limits: MIMETarget.limits)
            _ = ContentTransferEncoding(parsing: field.value)
        }
    }

    static func checkRendering(_ headers: HeaderSection) {
        let rendered = HeaderRewriter.render(headers)
        invariant(HeaderSection(parsing: rendered) == headers, "rendered section parses to other fields")
        let rebuilt = HeaderSection(fields: headers.fields.map { HeaderField(name: $0.name, rawValue: $0.rawValue) })
        let reparsed = HeaderSection(parsing: HeaderRewriter.render(rebuilt))
        invariant(reparsed == headers, "section rebuilt from names and values parses to \(reparsed.fields), not \(headers.fields)")
    }

    static func checkWriting(_ text: String) {
        let field = HeaderRewriter.makeField(name: "X-Fuzz", value: text)
        let parsed = HeaderSection(parsing: field.wireBytes).fields
        invariant(parsed.count == 1 && parsed[0] == field, "written field reads back as \(parsed.count) fields: \(parsed)")
        // Both ends trimmed: a space before a combining mark is one
        // character with it, so it is encoded inside the word, not trimmed.
        let expected = trimmed(HeaderRewriter.withoutControls(text))
        let decoded = trimmed(field.decodedValue)
        invariant(decoded == expected, "written \(expected.debugDescription) decodes to \(decoded.debugDescription)")
    }

    static func checkParameters(_ parameters: MIMEParameters, of field: HeaderField) {
        let limits = MIMETarget.limits
        invariant(parameters.all.count <= limits.maxParameters, "\(field.name): \(parameters.all.count) parameters kept")
        for parameter in parameters.all {
            invariant(parameter.alternateValues.count < limits.maxParameters,
                      "\(field.name): \(parameter.alternateValues.count) alternate values for \(parameter.name)")
            _ = parameter.allDecodedValues
        }
    }

    /// Spaces and tabs trimmed from both ends, as `HeaderField.value` does.
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        return String(scalars[first...last])
    }
}
