/// One message as a POP3 session numbers it.
public struct POP3Message: Sendable, Equatable {
    /// The store's UID, for fetching and expunging.
    public var uid: UInt32
    /// Octets as served (CRLF line ends): LIST and STAT (RFC 1939 §5).
    public var size: Int
    /// UIDL's unique-id (RFC 1939 §7): stable across sessions.
    public var uniqueID: String
    /// The quarantine ID, for logs; nil for a local Maildir message.
    public var queueID: String?

    public init(uid: UInt32, size: Int, uniqueID: String, queueID: String? = nil) {
        self.uid = uid
        self.size = size
        self.uniqueID = uniqueID
        self.queueID = queueID
    }

    /// unique-id = 1*70 of 0x21..0x7E (RFC 1939 §7). A Maildir base name
    /// normally is one; `fallback` (UIDVALIDITY and UID, equally stable)
    /// stands in for one that is not.
    public static func uniqueID(name: String, fallback: @autoclosure () -> String) -> String {
        let bytes = name.utf8
        let valid = (1...70).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7E).contains($0) }
        return valid ? name : fallback()
    }
}

/// The messages a session saw at login, numbered from 1 for the whole
/// session (RFC 1939 §5: new arrivals wait for the next session), and the
/// ones marked deleted, which vanish from every listing until RSET.
public struct POP3Maildrop: Sendable, Equatable {
    public let messages: [POP3Message]
    public private(set) var deleted: Set<Int> = []

    public init(messages: [POP3Message]) {
        self.messages = messages
    }

    public enum Miss: Error, Equatable, Sendable {
        case noSuchMessage
        case deleted
    }

    /// The message numbered `number`, unless out of range or marked.
    public func message(_ number: Int) -> Result<POP3Message, Miss> {
        guard number >= 1 && number <= messages.count else { return .failure(.noSuchMessage) }
        guard !deleted.contains(number) else { return .failure(.deleted) }
        return .success(messages[number - 1])
    }

    /// Marks `number` deleted; the message must be listed.
    public mutating func markDeleted(_ number: Int) -> Result<POP3Message, Miss> {
        let found = message(number)
        if case .success = found { deleted.insert(number) }
        return found
    }

    public mutating func unmarkAll() {
        deleted.removeAll()
    }

    /// A listed message and its number in this session.
    public struct Entry: Sendable, Equatable {
        public var number: Int
        public var message: POP3Message
    }

    /// The unmarked messages with their numbers, ascending.
    public var listed: [Entry] {
        messages.enumerated().compactMap { index, message in
            deleted.contains(index + 1) ? nil : Entry(number: index + 1, message: message)
        }
    }

    public var listedCount: Int { messages.count - deleted.count }
    public var listedOctets: Int { listed.reduce(0) { $0 + $1.message.size } }

    /// What UPDATE removes, ascending by number.
    public var markedMessages: [POP3Message] {
        deleted.sorted().map { messages[$0 - 1] }
    }
}
