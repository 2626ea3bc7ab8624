@testable import DKIM
import Crypto
import Foundation
import Testing

@Suite struct CanonicalizationTests {
    /// RFC 6376 §3.4.5's example message.
    static let example = Array("A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n".utf8)

    private func header(_ method: DKIMCanonicalization) -> String {
        let end = Self.example.count - " C \r\nD \t E\r\n\r\n\r\n".utf8.count - 2
        let fields = DKIMHeaderField.fields(in: Self.example[..<end])
        return String(decoding: fields.flatMap { DKIMHeaderCanonicalizer.canonicalize($0, method) }, as: UTF8.self)
    }

    private func body(_ text: String, _ method: DKIMCanonicalization, chunk: Int = .max) -> [UInt8] {
        var hasher = DKIMBodyHasher(canonicalization: method)
        let bytes = Array(text.utf8)
        for start in stride(from: 0, to: bytes.count, by: min(chunk, max(bytes.count, 1))) {
            hasher.update(bytes[start..<(start + min(chunk, bytes.count - start))])
        }
        return hasher.finalize()
    }

    private func sha256(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }

    @Test func relaxedHeaderExample() {
        #expect(header(.relaxed) == "a:X\r\nb:Y Z\r\n")
    }

    @Test func simpleHeaderExample() {
        #expect(header(.simple) == "A: X\r\nB : Y\t\r\n\tZ  \r\n")
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func bodyExampleInChunks(chunk: Int) {
        let text = " C \r\nD \t E\r\n\r\n\r\n"
        #expect(body(text, .relaxed, chunk: chunk) == sha256(" C\r\nD E\r\n"))
        #expect(body(text, .simple, chunk: chunk) == sha256(" C \r\nD \t E\r\n"))
    }

    @Test(arguments: [
        // (body, simple canonical form, relaxed canonical form)
        ("", "\r\n", ""),
        ("\r\n\r\n", "\r\n", ""),
        ("abc", "abc\r\n", "abc\r\n"),
        ("abc  \r\n \r\n", "abc  \r\n \r\n", "abc\r\n"),
        ("a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n"),
        ("a\rb\r\n", "a\rb\r\n", "a\rb\r\n"),
        ("x\r", "x\r\r\n", "x\r\r\n"),
        ("\t lead\r\n", "\t lead\r\n", " lead\r\n"),
    ])
    func bodyEdgeCases(input: String, simple: String, relaxed: String) {
        #expect(body(input, .simple) == sha256(simple))
        #expect(body(input, .relaxed) == sha256(relaxed))
        #expect(body(input, .simple, chunk: 1) == sha256(simple))
        #expect(body(input, .relaxed, chunk: 1) == sha256(relaxed))
    }

    @Test func lengthLimitHashesOnlyThePrefix() {
        var hasher = DKIMBodyHasher(canonicalization: .simple, limit: 5)
        hasher.update(Array("Hello world\r\n".utf8))
        #expect(hasher.finalize() == sha256("Hello"))
        #expect(hasher.canonicalLength == 13)
    }

    /// §5.4.2: instances are taken from the bottom; a name listed more often
    /// than it occurs selects nothing more.
    @Test func headerSelectionBottomUp() {
        let fields = DKIMHeaderField.fields(in: Array("Received: top\r\nFrom: a\r\nReceived: bottom\r\n".utf8))
        let picked = DKIMHeaderHash.select(["received", "Received", "received", "from", "from"], from: fields)
        #expect(picked.map { String(decoding: $0.bytes, as: UTF8.self) }
            == ["Received: bottom\r\n", "Received: top\r\n", "From: a\r\n"])
    }

    @Test func signatureValueIsRemovedForHashing() {
        let field = DKIMHeaderField(bytes: Array("DKIM-Signature: v=1; bh=abc=; b=XYZ\r\n 123; d=x\r\n".utf8))!
        #expect(String(decoding: DKIMHeaderCanonicalizer.signatureField(field, .simple), as: UTF8.self)
            == "DKIM-Signature: v=1; bh=abc=; b=; d=x")
        #expect(String(decoding: DKIMHeaderCanonicalizer.signatureField(field, .relaxed), as: UTF8.self)
            == "dkim-signature:v=1; bh=abc=; b=; d=x")
    }
}
