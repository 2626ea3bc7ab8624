import NIOCore
import Testing
@testable import SMTPCore

@Suite("Replies and MAIL parameters")
struct ReplyAndParameterTests {
    @Test func multiLineReplyRendering() {
        var buffer = ByteBuffer()
        SMTPReply(code: 250, lines: ["relay.example", "PIPELINING", "SIZE 100"]).write(into: &buffer)
        #expect(String(buffer: buffer) == "250-relay.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n")
    }

    @Test func enhancedCodeOnEveryLine() {
        var buffer = ByteBuffer()
        SMTPReply(code: 550, enhanced: EnhancedStatusCode(5, 7, 1), lines: ["one", "two"]).write(into: &buffer)
        #expect(String(buffer: buffer) == "550-5.7.1 one\r\n550 5.7.1 two\r\n")
    }

    @Test func numbersAreWrittenAsDigits() {
        var buffer = ByteBuffer()
        SMTPReply(code: 451, enhanced: EnhancedStatusCode(4, 10, 123), lines: ["a"]).write(into: &buffer)
        SMTPReply(code: 250, enhanced: EnhancedStatusCode(2, 0, 0), lines: [""]).write(into: &buffer)
        SMTPReply(code: 599, enhanced: EnhancedStatusCode(5, 999, 0), lines: ["x", "y"]).write(into: &buffer)
        #expect(String(buffer: buffer) == "451 4.10.123 a\r\n250 2.0.0\r\n599-5.999.0 x\r\n599 5.999.0 y\r\n")
    }

    @Test("enhanced code parsing", arguments: [("2.0.0", true), ("5.7.1", true), ("4.4.2", true), ("3.0.0", false), ("5.1", false), ("5.x.1", false), ("5.1000.1", false),
                                                     ("5.1.999", true), ("5.001.002", true), ("5..1", false), (".5.1", false), ("5.1.", false),
                                                     ("5.1.1.1", false), ("+5.1.1", false), ("25.1.1", false), ("", false)])
    func enhancedCodeParsing(text: String, valid: Bool) {
        #expect((EnhancedStatusCode(Substring(text)) != nil) == valid)
    }

    static let parameterCases: [([ESMTPParameter], String?)] = [
        ([ESMTPParameter(keyword: "SIZE", value: "100")], nil),
        ([ESMTPParameter(keyword: "SIZE", value: "1001")], "552 5.3.4"),
        ([ESMTPParameter(keyword: "SIZE", value: "abc")], "501 5.5.4"),
        ([ESMTPParameter(keyword: "SIZE")], "501 5.5.4"),
        ([ESMTPParameter(keyword: "BODY", value: "7bit")], nil),
        ([ESMTPParameter(keyword: "BODY", value: "8BITMIME")], nil),
        ([ESMTPParameter(keyword: "BODY", value: "BINARYMIME")], "555 5.5.4"),
        ([ESMTPParameter(keyword: "BODY", value: "9BIT")], "501 5.5.4"),
        ([ESMTPParameter(keyword: "SMTPUTF8")], nil),
        ([ESMTPParameter(keyword: "SMTPUTF8", value: "yes")], "501 5.5.4"),
        ([ESMTPParameter(keyword: "RET", value: "FULL")], nil),
        ([ESMTPParameter(keyword: "NOTIFY", value: "NEVER")], "555 5.5.4"), // a RCPT parameter
        ([ESMTPParameter(keyword: "X-UNKNOWN")], "555 5.5.4"),
        ([ESMTPParameter(keyword: "SIZE", value: "1"), ESMTPParameter(keyword: "SIZE", value: "2")], "501 5.5.4"),
    ]

    @Test("MAIL parameters", arguments: parameterCases)
    func mailParameters(params: [ESMTPParameter], refusal: String?) {
        do {
            _ = try MailParameters(parsing: params, maxMessageSize: 1000)
            #expect(refusal == nil)
        } catch {
            #expect("\(error.reply.code) \(error.reply.enhanced!)" == refusal)
        }
    }

    @Test func replyTextCannotHoldLineBreaks() {
        let reply = SMTPReply(code: 550, enhanced: EnhancedStatusCode(5, 7, 1), text: "bad\r\n250 ok\u{0}")
        #expect(reply.lines == ["bad  250 ok "])
        var buffer = ByteBuffer()
        reply.write(into: &buffer)
        #expect(String(buffer: buffer) == "550 5.7.1 bad  250 ok \r\n")
    }
}
