// DKIM's parsers over what a stranger's header field or DNS answer holds:
// the tag-list, the DKIM-Signature field, the key record, header field
// splitting and the streamed body hash. Invariants:
// - a signature field or key record that parses renders to text that
//   parses back to the same value;
// - a tag-list that parses has valid, distinct names;
// - header fields split from the input hold exactly its octets up to the
//   empty line (nothing dropped or invented, CRLF added only at the end);
// - the body hash is the same fed byte by byte, in odd chunks, or at once.
import DKIM

enum DKIMTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let input = Array(bytes)
        tagList(input)
        signatureField(input)
        keyRecord(input)
        headerFields(input)
        bodyHash(input)
    }

    static func tagList(_ input: [UInt8]) {
        guard let list = try? DKIMTagList(parsing: input) else { return }
        let names = list.tags.map(\.name)
        invariant(Set(names).count == names.count, "duplicate tags accepted: \(names)")
        for name in names {
            invariant(name.first?.isLetter == true && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") },
                      "invalid tag name \(name.debugDescription)")
        }
    }

    static func signatureField(_ input: [UInt8]) {
        guard let field = try? DKIMSignatureField(parsing: input) else { return }
        let rendered = Array(field.rendered.utf8)
        guard let header = DKIMHeaderField(bytes: rendered) else {
            invariant(false, "rendered field has no colon: \(field.rendered.debugDescription)")
            return
        }
        let again = try? DKIMSignatureField(parsing: header.value)
        invariant(again == field, "render/parse changed \(field) into \(String(describing: again))")
    }

    static func keyRecord(_ input: [UInt8]) {
        guard let record = try? DKIMKeyRecord(parsing: input) else { return }
        let again = try? DKIMKeyRecord(parsing: Array(record.rendered.utf8))
        invariant(again == record, "render/parse changed \(record) into \(String(describing: again))")
    }

    static func headerFields(_ input: [UInt8]) {
        let fields = DKIMHeaderField.fields(in: input)
        let joined = fields.flatMap(\.bytes)
        for field in fields.dropLast() {
            invariant(field.bytes.suffix(2) == [13, 10], "a field that is not the last lacks its CRLF")
        }
        // Every field's octets are the input's, in order (the last may have
        // gained a CRLF; lines before the first field may be skipped).
        var position = 0
        for field in fields {
            let body = field.bytes.suffix(2) == [13, 10] ? Array(field.bytes.dropLast(2)) : field.bytes
            guard let found = find(body, in: input, from: position) else {
                invariant(false, "field \(field.bytes) is not in the input")
                return
            }
            position = found + body.count
        }
        invariant(joined.count <= input.count + 2 * fields.count, "fields longer than the input")
    }

    static func bodyHash(_ input: [UInt8]) {
        for method in [DKIMCanonicalization.simple, .relaxed] {
            var whole = DKIMBodyHasher(canonicalization: method)
            whole.update(input)
            var drip = DKIMBodyHasher(canonicalization: method)
            for byte in input { drip.update([byte]) }
            var odd = DKIMBodyHasher(canonicalization: method)
            for start in stride(from: 0, to: input.count, by: 3) { odd.update(input[start..<min(start + 3, input.count)]) }
            let digest = whole.finalize()
            invariant(drip.finalize() == digest && odd.finalize() == digest, "\(method) body hash depends on chunking")
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
