/// A file name collected as it streams past, in bounded memory: its first
/// `maxEmbeddedNameLength` octets and its last `maxEmbeddedNameTail`, so
/// that a name of any length keeps both its start and its extension.
struct BoundedName: Sendable {
    private let headLimit: Int
    private let tailLimit: Int
    private(set) var head: [UInt8] = []
    private var tail: [UInt8] = []

    init(limits: MIMELimits) {
        headLimit = limits.maxEmbeddedNameLength
        tailLimit = limits.maxEmbeddedNameTail
    }

    var isEmpty: Bool { head.isEmpty }

    mutating func append(_ bytes: some Collection<UInt8>) {
        let toHead = bytes.prefix(headLimit - head.count)
        head += toHead
        guard toHead.count < bytes.count else { return }
        tail += bytes.dropFirst(toHead.count).suffix(tailLimit)
        if tail.count >= 2 * tailLimit { tail.removeFirst(tail.count - tailLimit) }
    }

    /// The kept octets: the whole name when it fit.
    var bytes: [UInt8] { head + tail.suffix(tailLimit) }

    mutating func reset() {
        head.removeAll(keepingCapacity: true)
        tail.removeAll(keepingCapacity: true)
    }
}

/// The names found in one body, up to `maxEmbeddedNames`.
struct EmbeddedNames: Sendable {
    let limit: Int
    private(set) var names: [String] = []
    private(set) var sawTooMany = false

    init(limits: MIMELimits) {
        limit = limits.maxEmbeddedNames
    }

    mutating func markTooMany() {
        sawTooMany = true
    }

    mutating func append(_ name: String) {
        guard !name.isEmpty, !names.contains(name) else { return }
        guard names.count < limit else {
            sawTooMany = true
            return
        }
        names.append(name)
    }
}
