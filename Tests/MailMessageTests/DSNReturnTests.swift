import Foundation
import Testing
@testable import MailMessage

/// RET (RFC 3461 §4.3): what of the original a DSN returns.
@Suite("DSN returned content (RET)")
struct DSNReturnTests {
    static let original = Array("""
        From: Alice <alice@example.org>\r
        To: Bob <bob@example.org>\r
        Subject: figures\r
        \r
        BODY LINE ONE\r
        BODY LINE TWO\r

        """.utf8)

    static func report(_ kind: DeliveryStatusNotification.Kind, _ returned: DeliveryStatusNotification.ReturnedContent,
                       limit: Int = DeliveryStatusNotification.defaultMaxOriginalHeaderBytes) throws -> Rendered {
        var dsn = try #require(DeliveryStatusNotification(
            kind: kind, reportingMTA: "relay.example.net", originalSender: "alice@example.org", arrivalDate: Date(),
            recipients: [RecipientReport(finalRecipient: "bob@example.org",
                                         action: kind == .failure ? .failed : kind == .delay ? .delayed : .relayed,
                                         status: kind == .failure ? "5.1.1" : kind == .delay ? "4.4.1" : "2.0.0")]))
        dsn.returnedContent = returned
        dsn.maxReturnedMessageBytes = limit
        var random = SplitMix64(seed: 7)
        let bytes = dsn.render(originalMessage: original, now: Date(), random: &random)
        return Rendered(bytes: bytes, message: MIMEParser.parse(bytes))
    }

    struct Rendered {
        var bytes: [UInt8]
        var message: MIMEMessage
        var root: MIMEPart { message.root }

        func text(part: Int) -> String {
            String(decoding: bytes[root.children[part].bodyRange], as: UTF8.self)
        }
    }

    @Test func fullReturnsTheWholeMessageInAFailure() throws {
        let message = try Self.report(.failure, .fullMessage)
        #expect(!message.message.hasDefects)
        #expect(message.root.children.map(\.contentType.mimeType)
            == ["text/plain", "message/delivery-status", "message/rfc822"])
        #expect(Array(message.bytes[message.root.children[2].bodyRange]) == Self.original)
        #expect(message.text(part: 0).contains("Your message is attached."))
    }

    @Test func headersReturnOnlyTheHeaderSection() throws {
        let message = try Self.report(.failure, .headers)
        #expect(message.root.children[2].contentType.mimeType == "text/rfc822-headers")
        let returned = message.text(part: 2)
        #expect(returned.contains("Subject: figures") && !returned.contains("BODY LINE"))
    }

    /// RFC 3461 §4.3: only a report of failure returns the whole message.
    @Test("delay and success reports return headers even with RET=FULL",
          arguments: [DeliveryStatusNotification.Kind.delay, .success])
    func fullOnlyForFailures(kind: DeliveryStatusNotification.Kind) throws {
        let message = try Self.report(kind, .fullMessage)
        #expect(message.root.children[2].contentType.mimeType == "text/rfc822-headers")
        #expect(!message.text(part: 2).contains("BODY LINE"))
    }

    @Test func aMessageOverTheLimitReturnsItsHeaders() throws {
        let message = try Self.report(.failure, .fullMessage, limit: 40)
        #expect(message.root.children[2].contentType.mimeType == "text/rfc822-headers")
        #expect(!message.text(part: 2).contains("BODY LINE"))
        let explanation = message.text(part: 0).replacingOccurrences(of: "\r\n", with: " ")
        #expect(explanation.contains("the whole message is too large to return (over 40 octets)"))
    }
}
