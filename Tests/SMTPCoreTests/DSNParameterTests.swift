import Testing
@testable import SMTPCore

/// The DSN extension's parameters (RFC 3461 §4) and their xtext values.
@Suite("DSN parameters")
struct DSNParameterTests {
    static let xtextCases: [(String, String)] = [
        ("abc", "abc"),
        ("a+b=c", "a+2Bb+3Dc"),
        ("two words", "two+20words"),
        ("bob@example.org", "bob@example.org"),
        ("tab\there", "tab+09here"),
        ("é", "+C3+A9"),
        ("", ""),
    ]

    @Test("xtext encodes and decodes", arguments: xtextCases)
    func xtextRoundTrip(plain: String, xtext: String) throws {
        #expect(XText.encode(plain) == xtext)
        #expect(try XText.decode(xtext) == Array(plain.utf8))
    }

    @Test func xtextAcceptsLowerCaseHex() throws {
        #expect(try XText.decode("abc+2bdef") == Array("abc+def".utf8))
    }

    static let badXText: [(String, XText.DecodeError)] = [
        ("a+", .badHexEscape),
        ("a+2", .badHexEscape),
        ("a+G0", .badHexEscape),
        ("a=b", .invalidCharacter(UInt8(ascii: "="))),
        ("a b", .invalidCharacter(UInt8(ascii: " "))),
        ("é", .invalidCharacter(0xC3)),
    ]

    @Test("bad xtext", arguments: badXText)
    func badXTextIsRefused(text: String, error: XText.DecodeError) {
        #expect(throws: error) { try XText.decode(text) }
    }

    /// MAIL parameters: nil = accepted, else "CODE X.Y.Z text".
    static let mailCases: [([ESMTPParameter], String?)] = [
        ([.init(keyword: "RET", value: "FULL")], nil),
        ([.init(keyword: "RET", value: "hdrs")], nil),
        ([.init(keyword: "RET", value: "BODY")], "501 5.5.4 Bad value for parameter RET: expected FULL or HDRS"),
        ([.init(keyword: "RET")], "501 5.5.4 Bad value for parameter RET: expected FULL or HDRS"),
        ([.init(keyword: "RET", value: "FULL"), .init(keyword: "RET", value: "HDRS")], "501 5.5.4 Parameter RET given twice"),
        ([.init(keyword: "ENVID", value: "abc+2Bdef")], nil),
        ([.init(keyword: "ENVID", value: String(repeating: "x", count: 100))], nil),
        ([.init(keyword: "ENVID", value: String(repeating: "x", count: 101))],
         "501 5.5.4 Bad value for parameter ENVID: longer than 100 characters"),
        ([.init(keyword: "ENVID", value: "a+0Db")], "501 5.5.4 Bad value for parameter ENVID: must decode to printable US-ASCII"),
        ([.init(keyword: "ENVID", value: "a+zz")],
         "501 5.5.4 Bad value for parameter ENVID: \"+\" must be followed by two hex digits (xtext)"),
        ([.init(keyword: "ENVID")], "501 5.5.4 Bad value for parameter ENVID: empty"),
        ([.init(keyword: "ENVID", value: "a"), .init(keyword: "ENVID", value: "b")], "501 5.5.4 Parameter ENVID given twice"),
    ]

    @Test("MAIL DSN parameters", arguments: mailCases)
    func mailParameters(params: [ESMTPParameter], refusal: String?) {
        do {
            _ = try MailParameters(parsing: params, maxMessageSize: 1000)
            #expect(refusal == nil)
        } catch {
            #expect("\(error.reply.code) \(error.reply.enhanced!) \(error.reply.lines[0])" == refusal)
        }
    }

    @Test func mailValuesAreKept() throws {
        let parsed = try MailParameters(parsing: [.init(keyword: "RET", value: "HDRS"), .init(keyword: "ENVID", value: "abc+2Bdef")],
                                        maxMessageSize: 1000)
        #expect(parsed.dsnReturn == .headers)
        #expect(parsed.envelopeID == "abc+def")
    }

    /// The parsed value, or "CODE X.Y.Z text".
    enum Expected: Equatable, Sendable {
        case success(RecipientParameters)
        case failure(String)
    }

    /// RCPT parameters.
    static let rcptCases: [([ESMTPParameter], Expected)] = [
        ([], .success(RecipientParameters())),
        ([.init(keyword: "NOTIFY", value: "NEVER")], .success(RecipientParameters(notify: .never))),
        ([.init(keyword: "NOTIFY", value: "never")], .success(RecipientParameters(notify: .never))),
        ([.init(keyword: "NOTIFY", value: "SUCCESS,FAILURE")], .success(RecipientParameters(notify: [.success, .failure]))),
        ([.init(keyword: "NOTIFY", value: "DELAY,SUCCESS,FAILURE")],
         .success(RecipientParameters(notify: [.success, .failure, .delay]))),
        ([.init(keyword: "NOTIFY", value: "NEVER,SUCCESS")],
         .failure("501 5.5.4 Bad value for parameter NOTIFY: NEVER cannot be combined with SUCCESS, FAILURE or DELAY")),
        ([.init(keyword: "NOTIFY", value: "FAILURE,NEVER")],
         .failure("501 5.5.4 Bad value for parameter NOTIFY: NEVER cannot be combined with SUCCESS, FAILURE or DELAY")),
        ([.init(keyword: "NOTIFY", value: "FAILURE,FAILURE")], .failure("501 5.5.4 Bad value for parameter NOTIFY: FAILURE given twice")),
        ([.init(keyword: "NOTIFY", value: "SUCCESS,")],
         .failure("501 5.5.4 Bad value for parameter NOTIFY: expected NEVER or a list of SUCCESS, FAILURE, DELAY")),
        ([.init(keyword: "NOTIFY", value: "ALWAYS")],
         .failure("501 5.5.4 Bad value for parameter NOTIFY: expected NEVER or a list of SUCCESS, FAILURE, DELAY")),
        ([.init(keyword: "NOTIFY")], .failure("501 5.5.4 Bad value for parameter NOTIFY: expected NEVER or SUCCESS, FAILURE, DELAY")),
        ([.init(keyword: "NOTIFY", value: "NEVER"), .init(keyword: "NOTIFY", value: "NEVER")],
         .failure("501 5.5.4 Parameter NOTIFY given twice")),
        ([.init(keyword: "ORCPT", value: "rfc822;bob@x")],
         .success(RecipientParameters(originalRecipient: OriginalRecipient(addressType: "rfc822", address: "bob@x")))),
        ([.init(keyword: "ORCPT", value: "rfc822;a+2Bb@x")],
         .success(RecipientParameters(originalRecipient: OriginalRecipient(addressType: "rfc822", address: "a+b@x")))),
        ([.init(keyword: "ORCPT", value: "bob@x")], .failure("501 5.5.4 Bad value for parameter ORCPT: expected addr-type;address")),
        ([.init(keyword: "ORCPT", value: ";bob@x")], .failure("501 5.5.4 Bad value for parameter ORCPT: bad address type")),
        ([.init(keyword: "ORCPT", value: "rfc.822;bob@x")], .failure("501 5.5.4 Bad value for parameter ORCPT: bad address type")),
        ([.init(keyword: "ORCPT", value: "rfc822;")], .failure("501 5.5.4 Bad value for parameter ORCPT: empty")),
        ([.init(keyword: "ORCPT", value: "rfc822;a+0Ab")],
         .failure("501 5.5.4 Bad value for parameter ORCPT: must decode to printable US-ASCII")),
        ([.init(keyword: "ORCPT", value: "rfc822;" + String(repeating: "x", count: 493))],
         .success(RecipientParameters(originalRecipient: OriginalRecipient(addressType: "rfc822",
                                                                            address: String(repeating: "x", count: 493))))),
        ([.init(keyword: "ORCPT", value: "rfc822;" + String(repeating: "x", count: 494))],
         .failure("501 5.5.4 Bad value for parameter ORCPT: longer than 500 characters")),
        ([.init(keyword: "ORCPT", value: "rfc822;a"), .init(keyword: "ORCPT", value: "rfc822;b")],
         .failure("501 5.5.4 Parameter ORCPT given twice")),
        ([.init(keyword: "SIZE", value: "10")], .failure("555 5.5.4 Unsupported parameter SIZE")),
        ([.init(keyword: "XFOO")], .failure("555 5.5.4 Unsupported parameter XFOO")),
    ]

    @Test("RCPT DSN parameters", arguments: rcptCases)
    func rcptParameters(params: [ESMTPParameter], expected: Expected) {
        do {
            #expect(Expected.success(try RecipientParameters(parsing: params)) == expected)
        } catch {
            #expect(Expected.failure("\(error.reply.code) \(error.reply.enhanced!) \(error.reply.lines[0])") == expected)
        }
    }

    @Test func valuesGoBackOutAsParameters() throws {
        #expect(DSNNotify.never.parameterValue == "NEVER")
        #expect(([.delay, .success] as DSNNotify).parameterValue == "SUCCESS,DELAY")
        let orcpt = OriginalRecipient(addressType: "rfc822", address: "a+b=c@x")
        #expect(orcpt.parameterValue == "rfc822;a+2Bb+3Dc@x")
        #expect(orcpt.description == "rfc822;a+b=c@x")
        #expect(try OriginalRecipient(parameter: orcpt.parameterValue) == orcpt)
    }

    /// Which DSNs a recipient gets (RFC 3461 §4.1): without NOTIFY, failure
    /// and delay but no success; with it, exactly what it lists.
    static let noticeCases: [(DSNNotify?, DSNNotify, Bool)] = [
        (nil, .failure, true), (nil, .delay, true), (nil, .success, false),
        (.never, .failure, false), (.never, .delay, false), (.never, .success, false),
        ([.success], .success, true), ([.success], .failure, false), ([.success], .delay, false),
        ([.success, .failure], .failure, true), ([.success, .failure], .delay, false),
        ([.delay], .delay, true), ([.delay], .failure, false),
    ]

    @Test("notices asked for", arguments: noticeCases)
    func wantsNotice(notify: DSNNotify?, condition: DSNNotify, expected: Bool) {
        #expect(RecipientParameters(notify: notify).wantsNotice(condition) == expected)
    }
}
