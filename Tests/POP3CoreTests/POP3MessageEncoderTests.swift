import NIOCore
import Testing
@testable import POP3Core

@Suite("POP3 byte-stuffing and TOP")
struct POP3MessageEncoderTests {
    static func encode(_ message: String, bodyLines: Int?, chunkSize: Int = .max) -> String {
        var encoder = POP3MessageEncoder(bodyLines: bodyLines)
        var buffer = ByteBuffer()
        let bytes = Array(message.utf8)
        var start = 0
        while start < bytes.count && !encoder.isComplete {
            let end = min(bytes.count, start + chunkSize)
            bytes[start..<end].withUnsafeBytes { encoder.encode($0, into: &buffer) }
            start = end
        }
        encoder.finish(into: &buffer)
        return String(buffer: buffer)
    }

    static let message = "Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n.line 2\r\n..\r\n.\r\nline 5\r\n"

    static let cases: [(String, Int?, String)] = [
        ("", nil, ".\r\n"),
        ("a\r\n", nil, "a\r\n.\r\n"),
        ("no line end", nil, "no line end\r\n.\r\n"),
        (".\r\n", nil, "..\r\n.\r\n"),
        ("..x\r\n.", nil, "...x\r\n..\r\n.\r\n"),
        ("a.b\r\n x.\r\n", nil, "a.b\r\n x.\r\n.\r\n"),
        (message, nil, "Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n..line 2\r\n...\r\n..\r\nline 5\r\n.\r\n"),
        (message, 0, "Subject: hi\r\nFrom: a@b\r\n\r\n.\r\n"),
        (message, 1, "Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n.\r\n"),
        (message, 3, "Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n..line 2\r\n...\r\n.\r\n"),
        (message, 100, "Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n..line 2\r\n...\r\n..\r\nline 5\r\n.\r\n"),
        // No blank line: all header, sent whole.
        ("Subject: x\r\nFrom: y\r\n", 0, "Subject: x\r\nFrom: y\r\n.\r\n"),
        // A header with a leading dot is stuffed too.
        (".X: y\r\n\r\nbody\r\n", 0, "..X: y\r\n\r\n.\r\n"),
        // The blank line may be the first line.
        ("\r\nbody 1\r\nbody 2\r\n", 1, "\r\nbody 1\r\n.\r\n"),
        // A body without a final line end, asked for more lines than it has.
        ("H: v\r\n\r\nlast", 5, "H: v\r\n\r\nlast\r\n.\r\n"),
    ]

    @Test("whole and chunked", arguments: cases)
    func encodes(_ message: String, _ bodyLines: Int?, _ expected: String) {
        for chunkSize in [1, 2, 3, 7, Int.max] {
            #expect(Self.encode(message, bodyLines: bodyLines, chunkSize: chunkSize) == expected, "chunk size \(chunkSize)")
        }
    }

    @Test("TOP stops reading once it has its lines")
    func completes() {
        var encoder = POP3MessageEncoder(bodyLines: 1)
        var buffer = ByteBuffer()
        Array("H: v\r\n\r\nb1\r\nb2\r\n".utf8).withUnsafeBytes { encoder.encode($0, into: &buffer) }
        #expect(encoder.isComplete)
        Array("more\r\n".utf8).withUnsafeBytes { encoder.encode($0, into: &buffer) }
        #expect(String(buffer: buffer) == "H: v\r\n\r\nb1\r\n")
    }

    @Test("RETR output unstuffs back to the message")
    func roundTrip() {
        let message = (0..<200).map { $0 % 3 == 0 ? ".\($0)" : "line \($0)" }.joined(separator: "\r\n") + "\r\n"
        let encoded = Self.encode(message, bodyLines: nil, chunkSize: 13)
        #expect(encoded.hasSuffix("\r\n.\r\n"))
        let lines = encoded.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast(2)
        let unstuffed = lines.map { $0.hasPrefix(".") ? String($0.dropFirst()) : String($0) }.joined(separator: "\r\n") + "\r\n"
        #expect(unstuffed == message)
    }
}
