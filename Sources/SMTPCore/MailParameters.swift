/// The MAIL FROM parameters Postern understands, validated against what EHLO
/// advertised. Anything else is refused with 555 5.5.4 (RFC 5321 §4.1.1.11);
/// a bad or repeated value with 501 5.5.4.
public struct MailParameters: Sendable, Hashable {
    /// BODY= (RFC 6152).
    public enum BodyType: String, Sendable, Hashable {
        case sevenBit = "7BIT"
        case eightBitMIME = "8BITMIME"
    }

    /// SIZE= the client's estimate of the message size (RFC 1870).
    public var declaredSize: Int?
    public var body: BodyType?
    /// SMTPUTF8 (RFC 6531 §3.4).
    public var smtpUTF8 = false
    /// RET= (RFC 3461 §4.3): what a failure DSN returns; nil: not given.
    public var dsnReturn: DSNReturn?
    /// ENVID= (RFC 3461 §4.4), xtext-decoded: the sender's own ID for the
    /// transaction, reported back as Original-Envelope-Id.
    public var envelopeID: String?

    public init() {}

    public init(parsing params: [ESMTPParameter], maxMessageSize: Int) throws(ParameterError) {
        var seen = Set<String>()
        for param in params {
            guard seen.insert(param.keyword).inserted else { throw .duplicate(param.keyword) }
            switch param.keyword {
            case "SIZE":
                // size-value = 1*20DIGIT (RFC 1870 §3); anything past Int is just too big.
                guard let text = param.value, (1...20).contains(text.utf8.count),
                      text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw .badValue("SIZE") }
                guard let size = Int(text), size <= maxMessageSize else { throw .tooBig(limit: maxMessageSize) }
                declaredSize = size
            case "BODY":
                guard let value = param.value, let body = BodyType(rawValue: value.uppercased()) else {
                    throw param.value?.uppercased() == "BINARYMIME" ? .unsupported("BODY=BINARYMIME") : .badValue("BODY")
                }
                self.body = body
            case "SMTPUTF8":
                guard param.value == nil else { throw .badValue("SMTPUTF8") }
                smtpUTF8 = true
            case "RET":
                dsnReturn = try DSNReturn(parameter: param.value)
            case "ENVID":
                envelopeID = try DSNValue.envelopeID(param.value)
            case "AUTH":
                // RFC 4954 §5: a server offering AUTH takes AUTH=<mailbox>
                // (xtext) and may ignore it; Postern does not relay the
                // identity on, so it is checked for syntax and dropped.
                guard let value = param.value, !value.isEmpty, (try? XText.decode(value)) != nil else {
                    throw .badValue("AUTH")
                }
            default:
                throw .unsupported(param.keyword)
            }
        }
    }

    public enum ParameterError: Error, Sendable, Hashable {
        case unsupported(String)
        case badValue(String)
        case duplicate(String)
        case tooBig(limit: Int)
        /// A bad value and what is wrong with it (keyword, reason).
        case invalid(String, String)

        public var reply: SMTPReply {
            switch self {
            case .unsupported(let keyword):
                return SMTPReply(code: 555, enhanced: .invalidArguments, text: "Unsupported parameter \(keyword)")
            case .badValue(let keyword):
                return SMTPReply(code: 501, enhanced: .invalidArguments, text: "Bad value for parameter \(keyword)")
            case .invalid(let keyword, let reason):
                return SMTPReply(code: 501, enhanced: .invalidArguments, text: "Bad value for parameter \(keyword): \(reason)")
            case .duplicate(let keyword):
                return SMTPReply(code: 501, enhanced: .invalidArguments, text: "Parameter \(keyword) given twice")
            case .tooBig(let limit):
                return SMTPReply(code: 552, enhanced: EnhancedStatusCode(5, 3, 4),
                                 text: "Message size exceeds fixed maximum message size (\(limit) octets)")
            }
        }
    }
}
