import NIOCore
import SMTPCore
import Testing
@testable import Delivery

@Suite("Reply parser")
struct ReplyParserTests {
    struct Case: Sendable, CustomStringConvertible {
        var input: String
        var code: Int
        var enhanced: String?
        var lines: [String]
        var description: String { input.debugDescription }
    }

    static let good: [Case] = [
        Case(input: "250 OK\r\n", code: 250, enhanced: nil, lines: ["OK"]),
        Case(input: "250 2.1.0 Sender ok\r\n", code: 250, enhanced: "2.1.0", lines: ["Sender ok"]),
        Case(input: "220 mx.example ESMTP\n", code: 220, enhanced: nil, lines: ["mx.example ESMTP"]),
        Case(input: "250\r\n", code: 250, enhanced: nil, lines: [""]),
        Case(input: "250 \r\n", code: 250, enhanced: nil, lines: [""]),
        Case(input: "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", code: 250, enhanced: nil,
             lines: ["mx.example", "PIPELINING", "SIZE 1000"]),
        Case(input: "550-5.1.1 first\r\n550 5.1.1 second\r\n", code: 550, enhanced: "5.1.1", lines: ["first", "second"]),
        Case(input: "550-5.1.1 first\r\n550 plain second\r\n", code: 550, enhanced: "5.1.1", lines: ["first", "plain second"]),
        // The enhanced code's class must match the reply's (RFC 3463 §2); else it is text.
        Case(input: "451 5.0.0 odd\r\n", code: 451, enhanced: nil, lines: ["5.0.0 odd"]),
        Case(input: "250 2.0.0\r\n", code: 250, enhanced: "2.0.0", lines: [""]),
        Case(input: "354 End data with <CR><LF>.<CR><LF>\r\n", code: 354, enhanced: nil,
             lines: ["End data with <CR><LF>.<CR><LF>"]),
        Case(input: "250-\r\n250 last\r\n", code: 250, enhanced: nil, lines: ["", "last"]),
        Case(input: "421 4.4.2 idle too long\r\n", code: 421, enhanced: "4.4.2", lines: ["idle too long"]),
        Case(input: "250 1.2.3 not a class\r\n", code: 250, enhanced: nil, lines: ["1.2.3 not a class"]),
    ]

    @Test("parses", arguments: good)
    func parses(_ example: Case) throws {
        var parser = ReplyParser()
        var buffer = ByteBuffer(string: example.input)
        let reply = try #require(try parser.next(&buffer))
        #expect(reply.code == example.code)
        #expect(reply.enhanced?.description == example.enhanced)
        #expect(reply.lines == example.lines)
        #expect(buffer.readableBytes == 0)
    }

    /// The one-line fast path reads what the general path reads, over
    /// lines built from the octets that matter (digits, SP, "-", ".", CR,
    /// LF, a tab, a non-ASCII octet) and tight limits.
    @Test func fastPathReadsWhatTheGeneralPathReads() {
        let alphabet = Array("2505.1.0 -\r\n\tx".utf8) + [0xC3, 0xA9, 0x7F]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var fastAnswered = 0
        for _ in 0..<20_000 {
            var input: [UInt8] = random(4) == 0 ? [] : Array(["250 ", "550 5.1.1 ", "451 4.", "250-", "354"][random(5)].utf8)
            for _ in 0..<random(24) { input.append(alphabet[random(alphabet.count)]) }
            if random(3) > 0 { input += [0x0D, 0x0A] }
            let limits = (line: [8, 16, 4096][random(3)], reply: [6, 64 * 1024][random(2)])
            func read(fast: Bool) -> (replies: [SMTPReply], error: ReplyParseError?, left: Int) {
                var parser = ReplyParser(maxLineLength: limits.line, maxLines: 3, maxReplyLength: limits.reply)
                parser.oneLineFastPath = fast
                var buffer = ByteBuffer(bytes: input)
                var replies: [SMTPReply] = []
                do {
                    while let reply = try parser.next(&buffer) { replies.append(reply) }
                } catch {
                    return (replies, error, buffer.readableBytes)
                }
                return (replies, nil, buffer.readableBytes)
            }
            let fast = read(fast: true), general = read(fast: false)
            #expect(fast.replies == general.replies && fast.error == general.error && fast.left == general.left,
                    "\(input): fast \(fast), general \(general)")
            let oneLine = input.withUnsafeBytes { ReplyParser.oneLineReply($0, maxLineLength: limits.line, maxReplyLength: limits.reply) }
            if oneLine != nil { fastAnswered += 1 }
        }
        #expect(fastAnswered > 1_000) // the fast path was taken often enough to mean something
    }

    @Test("parses byte by byte", arguments: good)
    func dripFed(_ example: Case) throws {
        var parser = ReplyParser()
        var buffer = ByteBuffer()
        var replies: [SMTPReply] = []
        for byte in example.input.utf8 {
            buffer.writeInteger(byte)
            if let reply = try parser.next(&buffer) { replies.append(reply) }
        }
        #expect(replies.count == 1)
        #expect(replies.first?.lines == example.lines)
    }

    /// Found by the reply fuzz target (fuzz/reply): the parser took every
    /// space after the enhanced code as the separator, so a reply whose text
    /// starts with a space (or a control, which becomes one) changed when it
    /// was written back and read again.
    @Test("written replies read back the same", arguments: [
        "550-5.1.1 first\r\n550  second\r\n", "250 2.0.0 \rF>\r\n", "250 2.0.0   three\r\n", "421 4.4.2 idle\r\n",
        "250 2.0.0\u{0F}\r\n", "550 5.1.1\tno\r\n",
    ])
    func writtenRepliesReadBack(_ input: String) throws {
        var parser = ReplyParser()
        var buffer = ByteBuffer(string: input)
        let reply = try #require(try parser.next(&buffer))
        var written = ByteBuffer()
        reply.write(into: &written)
        #expect(try parser.next(&written) == reply)
    }

    /// Found by the reply fuzz target: a control after the code became a
    /// space only after the code had been judged.
    @Test func controlAfterTheEnhancedCodeSeparatesIt() throws {
        var parser = ReplyParser()
        var buffer = ByteBuffer(string: "250 2.0.0\u{0F}done\r\n")
        let reply = try #require(try parser.next(&buffer))
        #expect(reply.enhanced == EnhancedStatusCode(2, 0, 0))
        #expect(reply.lines == ["done"])
    }

    @Test func spacesAfterTheEnhancedCodeBelongToTheText() throws {
        var parser = ReplyParser()
        var buffer = ByteBuffer(string: "550-5.1.1 first\r\n550 5.1.1  indented\r\n")
        #expect(try parser.next(&buffer)?.lines == ["first", " indented"])
    }

    static let bad: [(String, ReplyParseError)] = [
        ("hello\r\n", .malformedLine("hello")),
        ("199 too low\r\n", .malformedLine("199 too low")),
        ("600 too high\r\n", .malformedLine("600 too high")),
        ("260 bad second digit\r\n", .malformedLine("260 bad second digit")),
        ("25 short\r\n", .malformedLine("25 short")),
        ("250x\r\n", .malformedLine("250x")),
        ("250-a\r\n251 b\r\n", .inconsistentCode(first: 250, later: 251)),
        ("\r\n", .malformedLine("")),
    ]

    @Test("rejects garbage", arguments: bad)
    func rejects(_ input: String, _ error: ReplyParseError) {
        var parser = ReplyParser()
        var buffer = ByteBuffer(string: input)
        #expect(throws: error) {
            while try parser.next(&buffer) != nil {}
        }
    }

    @Test func boundsLineLength() {
        var parser = ReplyParser(maxLineLength: 20)
        var buffer = ByteBuffer(string: "250 " + String(repeating: "x", count: 30))
        #expect(throws: ReplyParseError.lineTooLong(limit: 20)) { try parser.next(&buffer) }
        var complete = ByteBuffer(string: "250 " + String(repeating: "x", count: 30) + "\r\n")
        var fresh = ReplyParser(maxLineLength: 20)
        #expect(throws: ReplyParseError.lineTooLong(limit: 20)) { try fresh.next(&complete) }
    }

    @Test func boundsLineCount() {
        var parser = ReplyParser(maxLines: 3)
        var buffer = ByteBuffer(string: String(repeating: "250-x\r\n", count: 4) + "250 end\r\n")
        #expect(throws: ReplyParseError.tooManyLines(limit: 3)) { while try parser.next(&buffer) != nil {} }
    }

    @Test func boundsReplyLength() throws {
        var parser = ReplyParser(maxReplyLength: 100)
        var buffer = ByteBuffer(string: String(repeating: "250-" + String(repeating: "x", count: 30) + "\r\n", count: 4))
        #expect(throws: ReplyParseError.replyTooLong(limit: 100)) { while try parser.next(&buffer) != nil {} }
        // The count starts again with each reply.
        var fresh = ReplyParser(maxReplyLength: 100)
        var several = ByteBuffer(string: String(repeating: "250-" + String(repeating: "x", count: 30) + "\r\n250 ok\r\n", count: 5))
        var replies = 0
        while try fresh.next(&several) != nil { replies += 1 }
        #expect(replies == 5)
    }

    @Test func severalRepliesInOneRead() throws {
        var parser = ReplyParser()
        var buffer = ByteBuffer(string: "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n354 go")
        var codes: [Int] = []
        while let reply = try parser.next(&buffer) { codes.append(reply.code) }
        #expect(codes == [250, 250, 550])
        #expect(buffer.readableBytes == 6)
        buffer.writeString("\r\n")
        #expect(try parser.next(&buffer)?.code == 354)
    }

    @Test func capabilities() throws {
        var parser = ReplyParser()
        var buffer = ByteBuffer(string: "250-mx\r\n250-pipelining\r\n250-SIZE 1000\r\n250-AUTH=LOGIN\r\n"
            + "250-AUTH PLAIN CRAM-MD5\r\n250-8BITMIME\r\n250 STARTTLS\r\n")
        let capabilities = ServerCapabilities(ehloReply: try #require(try parser.next(&buffer)))
        #expect(capabilities.pipelining)
        #expect(capabilities.maxMessageSize == 1000)
        #expect(capabilities.authMechanisms == ["LOGIN", "PLAIN", "CRAM-MD5"])
        #expect(capabilities.eightBitMIME && capabilities.startTLS && !capabilities.smtpUTF8)
        var unlimited = ByteBuffer(string: "250-mx\r\n250 SIZE 0\r\n")
        let noLimit = ServerCapabilities(ehloReply: try #require(try parser.next(&unlimited)))
        #expect(noLimit.size && noLimit.maxMessageSize == nil)
    }

    @Test func commandsNeverLogCredentials() {
        #expect(ClientCommand.auth(mechanism: "PLAIN", initialResponse: "AGEAYg==").description == "AUTH PLAIN <redacted>")
        #expect(ClientCommand.authResponse("c2VjcmV0").description == "<redacted>")
        #expect(ClientCommand.mail(from: "a@b", parameters: ["SIZE=10"]).description == "MAIL FROM:<a@b> SIZE=10")
        var buffer = ByteBuffer()
        ClientCommand.rcpt(to: "x@y").write(into: &buffer)
        #expect(String(buffer: buffer) == "RCPT TO:<x@y>\r\n")
    }
}
