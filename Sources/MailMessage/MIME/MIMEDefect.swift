/// Something wrong with a message that the parser worked around. Defects
/// never stop parsing; they are kept on the part where they were found so
/// that an operator (and a policy) can see why the tree looks as it does.
/// Several are classic filter-evasion tricks, so a strict policy may refuse
/// a message that has them.
public enum MIMEDefect: Sendable, Equatable, CustomStringConvertible {
    /// Content-Type had no valid type/subtype; text/plain was assumed (RFC 2045 §5.2).
    case invalidContentType(String)
    /// A multipart without a boundary parameter: parsed as a single leaf.
    case missingBoundary
    /// A multipart body in which no boundary delimiter ever appeared.
    case noParts
    /// A multipart that ended (at the end of input or at an outer boundary)
    /// without its close-delimiter (RFC 2046 §5.1.1).
    case unterminatedMultipart
    /// Containers nested deeper than `MIMELimits.maxDepth`: kept as a leaf.
    case nestingTooDeep
    /// More parts than `MIMELimits.maxParts`: the rest were skipped.
    case tooManyParts
    /// Header section longer than `MIMELimits.maxHeaderBytes`: the rest was dropped.
    case headerTooLong
    /// A header section line that is not a field; the body was taken to start there.
    case missingHeaderBodySeparator
    /// The header section (or the whole entity) ended with the input.
    case truncatedHeader
    /// Base64 body with characters outside the alphabet or a dangling sextet.
    case invalidBase64
    /// Quoted-printable body with "=" not starting a valid escape.
    case invalidQuotedPrintable
    /// A Content-Transfer-Encoding this parser does not decode.
    case unknownTransferEncoding(String)
    /// A multipart or message entity with a transfer encoding other than
    /// 7bit/8bit/binary (RFC 2045 §6.4); its body was parsed as is.
    case encodedContainer(String)
    /// A parameter given twice with different values (e.g. filename and filename*).
    case conflictingParameter(String)
    /// Content-Type, Content-Transfer-Encoding or Content-Disposition given
    /// more than once; the first was used (readers differ on which wins).
    case repeatedField(String)
    /// Content-Type or Content-Transfer-Encoding given more than once with
    /// different values: readers that take the last field see another structure.
    case conflictingField(String)
    /// A header field with more parameters than `MIMELimits.maxParameters`:
    /// the rest were dropped unread.
    case tooManyParameters
    /// A parameter split into more RFC 2231 sections than
    /// `MIMELimits.maxParameterSections`: the rest were dropped unread.
    case tooManySections(String)
    /// More file names inside one body than `MIMELimits.maxEmbeddedNames`.
    case tooManyEmbeddedNames
    /// A TNEF property of a type whose size is unknown: the attachment's
    /// properties after it were not read.
    case unreadableTNEF

    public var description: String {
        switch self {
        case .invalidContentType(let value): "invalid Content-Type \"\(value)\", text/plain assumed"
        case .missingBoundary: "multipart without boundary parameter"
        case .noParts: "multipart body without any boundary delimiter"
        case .unterminatedMultipart: "multipart without close-delimiter"
        case .nestingTooDeep: "nesting too deep, not parsed further"
        case .tooManyParts: "too many parts, rest skipped"
        case .headerTooLong: "header section too long, truncated"
        case .missingHeaderBodySeparator: "header section not ended by an empty line"
        case .truncatedHeader: "input ended inside the header section"
        case .invalidBase64: "invalid base64"
        case .invalidQuotedPrintable: "invalid quoted-printable"
        case .unknownTransferEncoding(let name): "unknown transfer encoding \"\(name)\""
        case .encodedContainer(let name): "container with transfer encoding \"\(name)\""
        case .conflictingParameter(let name): "conflicting values for parameter \"\(name)\""
        case .repeatedField(let name): "field \(name) given more than once"
        case .conflictingField(let name): "\(name) given twice with different values"
        case .tooManyParameters: "more parameters than are checked"
        case .tooManySections(let name): "more sections of parameter \"\(name)\" than are checked"
        case .tooManyEmbeddedNames: "more embedded file names than are checked"
        case .unreadableTNEF: "TNEF property of unknown type"
        }
    }
}
