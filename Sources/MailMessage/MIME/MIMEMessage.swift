/// A parsed message: the root entity with its tree of parts, and the
/// decoded header values that policy rules match on.
public struct MIMEMessage: Sendable, Equatable {
    public var root: MIMEPart
    /// Octets parsed (for an encapsulated message, the size of its part's body).
    public var size: Int

    public init(root: MIMEPart, size: Int) {
        self.root = root
        self.size = size
    }

    public var headers: HeaderSection { root.headers }

    /// Decoded (RFC 2047) header values; nil when the field is absent.
    public var from: String? { headers.decodedValue("From") }
    public var sender: String? { headers.decodedValue("Sender") }
    public var replyTo: String? { headers.decodedValue("Reply-To") }
    /// All To (and Cc) fields joined with ", " — a message may carry several.
    public var to: String? { joined("To") }
    public var cc: String? { joined("Cc") }
    public var subject: String? { headers.decodedValue("Subject") }
    public var date: String? { headers.decodedValue("Date") }
    public var messageID: String? { headers.decodedValue("Message-ID") }

    /// Every part, root first, depth first.
    public var parts: [MIMEPart] { root.allParts }

    /// Leaf parts that a reader would offer to save (see `MIMEPart.isAttachment`).
    public var attachments: [MIMEPart] {
        parts.filter { $0.isAttachment && $0.children.isEmpty }
    }

    /// Whether any part recorded a defect.
    public var hasDefects: Bool {
        parts.contains { !$0.defects.isEmpty }
    }

    private func joined(_ name: String) -> String? {
        let values = headers.decodedValues(name)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }
}
