/// A Content-Disposition field value (RFC 2183): "inline", "attachment" or
/// an extension, and parameters such as filename (RFC 2231-aware).
public struct ContentDisposition: Sendable, Equatable {
    /// The disposition type, lowercased; empty when the field had none
    /// (`Content-Disposition: ; filename=x.exe` — readers still use the name).
    public var type: String
    public var parameters: MIMEParameters

    public init(type: String, parameters: MIMEParameters = MIMEParameters()) {
        self.type = type.lowercased()
        self.parameters = parameters
    }

    /// Parses a field value; never fails, since even a broken field's
    /// filename is what a mail reader will show and save.
    public init(parsing text: String, limits: MIMELimits = MIMEDefaults.limits) {
        let header = MIMEHeaderValue(parsing: text, limits: limits)
        self.init(type: header.value, parameters: header.parameters(limits: limits))
    }

    /// The filename parameter, RFC 2231 or RFC 2047 decoded.
    public var filename: String? { parameters.parameter("filename")?.decodedValue }

    public var isAttachment: Bool { type == "attachment" }
    public var isInline: Bool { type == "inline" }
}
