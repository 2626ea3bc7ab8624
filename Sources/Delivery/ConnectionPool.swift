import Foundation

/// Open SMTP connections waiting for the next message to the same next hop
/// (host:port), so a burst of mail to one destination pays for TCP, EHLO,
/// STARTTLS and AUTH once. Idle connections are closed after `idleTimeout`.
actor ConnectionPool {
    private var idle: [String: [(connection: SMTPConnection, since: Date)]] = [:]
    private let maxIdlePerKey: Int
    private let idleTimeout: TimeInterval

    init(maxIdlePerKey: Int, idleTimeout: TimeInterval) {
        self.maxIdlePerKey = maxIdlePerKey
        self.idleTimeout = idleTimeout
    }

    /// An idle, still open connection to `key`, if there is one.
    func take(_ key: String) -> SMTPConnection? {
        while var list = idle[key], let last = list.popLast() {
            idle[key] = list.isEmpty ? nil : list
            if last.connection.isOpen && Date().timeIntervalSince(last.since) < idleTimeout { return last.connection }
            Task { await last.connection.close() }
        }
        return nil
    }

    /// Keeps `connection` for reuse, or closes it when enough are idle.
    func put(_ key: String, _ connection: SMTPConnection) async {
        guard connection.isOpen else { return }
        if idle[key, default: []].count >= maxIdlePerKey {
            await connection.close()
            return
        }
        idle[key, default: []].append((connection, Date()))
    }

    /// Closes connections idle for longer than the timeout (all with `everything`).
    func prune(everything: Bool = false) async {
        let now = Date()
        var closing: [SMTPConnection] = []
        for (key, list) in idle {
            let keep = list.filter { !everything && $0.connection.isOpen && now.timeIntervalSince($0.since) < idleTimeout }
            closing += list.filter { entry in !keep.contains { $0.connection === entry.connection } }.map(\.connection)
            idle[key] = keep.isEmpty ? nil : keep
        }
        for connection in closing { await connection.close() }
    }
}
