import Testing
@testable import MailMessage

/// Seeded random inputs: pure noise, and real messages mutated with the
/// bytes that matter to MIME (delimiters, line breaks, header syntax). Each
/// result must satisfy the tree's invariants, and parsing in random chunks
/// must give exactly the same tree as parsing all at once.
@Suite("MIME parser under random input")
struct MIMEFuzzTests {
    static let fragments: [[UInt8]] = [
        "\r\n", "\n", "\r", "--", "--b", "--b--", "--outer", "--inner--", "--fwd", ":", " ", "=", "=?utf-8?b?",
        "?=", "\"", ";", "*0*=", "''%", "Content-Type: multipart/mixed; boundary=b\r\n",
        "Content-Type: message/rfc822\r\n\r\n", "Content-Transfer-Encoding: base64\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n", "\r\n\r\n", "(", ")", "\\", "\u{0}",
    ].map { Array($0.utf8) }

    @Test("random bytes", arguments: 0..<4)
    func randomBytes(_ batch: UInt64) {
        var random = SplitMix64(seed: 0xC0FFEE &+ batch)
        for _ in 0..<750 {
            let length = Int.random(in: 0...1000, using: &random)
            let alphabet = Int.random(in: 0...2, using: &random)
            let input: [UInt8] = (0..<length).map { _ in
                switch alphabet {
                case 0: UInt8.random(in: 0...255, using: &random)
                case 1: Array("-b\r\n:= ;\"".utf8).randomElement(using: &random) ?? 0
                default: UInt8.random(in: 0x20...0x7E, using: &random)
                }
            }
            check(input, using: &random)
        }
    }

    @Test("mutated messages", arguments: 0..<4)
    func mutatedMessages(_ batch: UInt64) {
        var random = SplitMix64(seed: 0xBADC0DE &+ batch)
        for _ in 0..<200 {
            var input = Samples.nested
            for _ in 0..<Int.random(in: 1...12, using: &random) {
                mutate(&input, using: &random)
            }
            check(input, using: &random)
        }
    }

    private func mutate(_ input: inout [UInt8], using random: inout SplitMix64) {
        let position = Int.random(in: 0...input.count, using: &random)
        switch Int.random(in: 0...3, using: &random) {
        case 0:
            input.insert(contentsOf: Self.fragments.randomElement(using: &random) ?? [], at: position)
        case 1:
            let end = min(input.count, position + Int.random(in: 1...40, using: &random))
            input.removeSubrange(position..<end)
        case 2:
            if position < input.count { input[position] = UInt8.random(in: 0...255, using: &random) }
        default:
            let end = min(input.count, position + Int.random(in: 1...200, using: &random))
            input.insert(contentsOf: input[position..<end], at: min(input.count, end))
        }
    }

    private func check(_ input: [UInt8], using random: inout SplitMix64) {
        var limits = MIMELimits()
        limits.maxDepth = 6
        limits.maxParts = 40
        limits.maxBoundaryLineLength = 24
        let message = MIMEParser.parse(input, limits: limits)
        #expect(message.size == input.count)

        var parser = MIMEParser(limits: limits)
        var start = 0
        while start < input.count {
            let end = min(input.count, start + Int.random(in: 1...64, using: &random))
            parser.feed(input[start..<end])
            start = end
        }
        let chunked = parser.finish()
        #expect(chunked == message)

        let parts = message.parts
        #expect(parts.count <= limits.maxParts)
        #expect(message.root.path == [1])
        for part in parts {
            #expect(part.path.count <= limits.maxDepth + 1)
            #expect(part.bodyRange.lowerBound >= 0 && part.bodyRange.upperBound <= input.count)
            #expect(part.decodedSize >= 0)
            if part.children.isEmpty, part.transferEncoding.isIdentity {
                #expect(part.decodedSize == part.bodyRange.count)
            }
            for (index, child) in part.children.enumerated() {
                #expect(child.path == part.path + [index + 1])
                #expect(child.bodyRange.lowerBound >= part.bodyRange.lowerBound)
                #expect(child.bodyRange.upperBound <= part.bodyRange.upperBound)
            }
            if part.contentType.isEncapsulatedMessage {
                #expect(part.children.count <= 1)
            }
        }
    }
}
