/// Every MIME parsing limit in one place. Hostile messages are parsed as far
/// as these allow and the rest is counted but not structured, so memory and
/// time stay bounded whatever arrives (no recursion, no unbounded buffers).
public struct MIMELimits: Sendable, Equatable {
    /// Deepest entity nesting (multipart inside multipart, message/rfc822
    /// inside either). The root is depth 0; a container at this depth is
    /// treated as an opaque leaf.
    public var maxDepth: Int = 32
    /// Parts in the whole tree, root included; later parts are skipped.
    public var maxParts: Int = 1000
    /// Header section of one entity, in octets; past it lines are dropped
    /// until the empty line that ends the section.
    public var maxHeaderBytes: Int = 256 * 1024
    /// Longest line that is still examined as a possible boundary delimiter.
    /// RFC 2046 §5.1.1 caps boundaries at 70 characters; the rest is room
    /// for "--", "--" and transport padding. Longer lines are streamed.
    public var maxBoundaryLineLength: Int = 1000
    /// Parameters kept per Content-Type or Content-Disposition field, and
    /// RFC 2231 sections per parameter.
    public var maxParameters: Int = 64
    public var maxParameterSections: Int = 64
    /// Transfer-encoded message/rfc822 parts decoded and parsed inside one
    /// another (RFC 2046 §5.2.1 forbids the encoding; readers decode it).
    /// Each level holds one more parser, so this bounds memory too.
    public var maxEncodedMessageDepth: Int = 4
    /// File names found inside one body (uuencode, yEnc, TNEF); more are a defect.
    public var maxEmbeddedNames: Int = 64
    /// Octets of an embedded file name (or uuencode "begin" line) kept: the
    /// first `maxEmbeddedNameLength` and the last `maxEmbeddedNameTail`,
    /// so that a name of any length keeps its extension.
    public var maxEmbeddedNameLength: Int = 1024
    public var maxEmbeddedNameTail: Int = 256

    public init() {}
}

public enum MIMEDefaults {
    public static let limits = MIMELimits()
    /// RFC 2045 §5.2: an entity without Content-Type is US-ASCII text.
    public static let contentType = ContentType(
        type: "text", subtype: "plain",
        parameters: MIMEParameters([MIMEParameter(name: "charset", value: "us-ascii")]))
    /// RFC 2046 §5.1.5: in multipart/digest the default is message/rfc822.
    public static let digestContentType = ContentType(type: "message", subtype: "rfc822")
}
