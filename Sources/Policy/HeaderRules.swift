/// `[headers]`: how the header section is rewritten on the way through.
/// Matching sees RFC 2047-decoded values; the body is never touched.
public struct HeaderRules: Sendable, Equatable {
    /// `[[headers.replace]]`: in fields named `name`, replace what the
    /// regular expression `pattern` matches with `replacement` ($1… refer
    /// to groups).
    public struct Replacement: Sendable, Equatable {
        public var name: String
        public var pattern: String
        public var replacement: String

        public init(name: String, pattern: String, replacement: String) {
            self.name = name
            self.pattern = pattern
            self.replacement = replacement
        }
    }

    /// `[headers.masquerade]`: sender addresses at `domains` (exact, or
    /// ".example.edu" for subdomains) are rewritten to `as`.
    public struct Masquerade: Sendable, Equatable {
        public var domains: [String]
        public var target: String

        public init(domains: [String], target: String) {
            self.domains = domains
            self.target = target
        }
    }

    /// Field names, or "/regex/" matched against the name.
    public var remove: [String] = []
    /// Whole fields, "Name: value", added at the end of the header section.
    public var add: [String] = []
    public var replace: [Replacement] = []
    public var masquerade: Masquerade?
    /// Drop the Received fields the message arrived with (the intranet's
    /// hops); Postern's own Received line is still added.
    public var stripReceived = false

    public init() {}

    public var isEmpty: Bool {
        remove.isEmpty && add.isEmpty && replace.isEmpty && masquerade == nil && !stripReceived
    }
}

/// `[attachments]`: messages carrying a part with one of these filename
/// extensions or content types are refused (554 5.7.1).
public struct AttachmentRules: Sendable, Equatable {
    /// Lowercased, without the dot: "exe", "scr".
    public var blockedExtensions: [String] = []
    /// Lowercased "type/subtype".
    public var blockedContentTypes: [String] = []

    public init() {}

    public var isEmpty: Bool { blockedExtensions.isEmpty && blockedContentTypes.isEmpty }
}
