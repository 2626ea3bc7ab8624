extension HeaderField {
    /// The unfolded value with RFC 2047 encoded words decoded: the text a
    /// reader displays and policy rules match against.
    public var decodedValue: String {
        EncodedWord.decode(value)
    }
}

extension HeaderSection {
    /// The decoded value of the first field named `name`.
    public func decodedValue(_ name: String) -> String? {
        first(name)?.decodedValue
    }

    /// The decoded values of every field named `name`, in order.
    public func decodedValues(_ name: String) -> [String] {
        all(name).map(\.decodedValue)
    }
}
