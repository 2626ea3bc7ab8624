import IMAPCore

/// Bytes a command produces, and what the connection does after writing them.
struct SessionOutput: Sendable {
    enum After: Sendable, Equatable {
        case none
        /// STARTTLS answered OK: the TLS handler goes in front now.
        case startTLS
        /// LOGOUT, or a session that must end.
        case close
        /// "+ idling" sent: poll for changes until DONE (RFC 2177).
        case idle
        /// "+ " sent inside AUTHENTICATE: the next line is the client's response.
        case authContinuation
    }

    var bytes: [UInt8] = []
    var after: After = .none
    /// Whether the session is logged in after this output (the connection's timeout depends on it).
    var authenticated = false

    mutating func untagged(_ text: String) {
        bytes += Array("* \(text)\r\n".utf8)
    }

    mutating func untagged(_ parts: [UInt8]) {
        bytes += Array("* ".utf8) + parts + [13, 10]
    }

    mutating func tagged(_ tag: String, _ status: Status, code: String? = nil, _ text: String) {
        bytes += Array("\(tag) \(status.rawValue) \(code.map { "[\($0)] " } ?? "")\(text)\r\n".utf8)
    }

    mutating func continuation(_ text: String) {
        bytes += Array("+ \(text)\r\n".utf8)
    }

    enum Status: String {
        case ok = "OK", no = "NO", bad = "BAD"
    }
}
