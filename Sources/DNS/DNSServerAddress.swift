import DNSModel
import Foundation

/// A name server to send queries to: an IP address and a port.
public struct DNSServerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: IPAddress
    public var port: UInt16

    public init(host: IPAddress, port: UInt16 = 53) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1`, `127.0.0.1:5353`, `::1`, `[::1]` or `[::1]:5353`.
    public init?(parsing text: String, defaultPort: UInt16 = 53) {
        var hostText = Substring(text)
        var port = defaultPort
        if hostText.hasPrefix("[") {
            guard let close = hostText.firstIndex(of: "]") else { return nil }
            let after = hostText[hostText.index(after: close)...]
            hostText = hostText[hostText.index(after: hostText.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let parsed = UInt16(after.dropFirst()), parsed > 0 else { return nil }
                port = parsed
            }
        } else if hostText.filter({ $0 == ":" }).count == 1, let colon = hostText.firstIndex(of: ":") {
            guard let parsed = UInt16(hostText[hostText.index(after: colon)...]), parsed > 0 else { return nil }
            port = parsed
            hostText = hostText[..<colon]
        }
        guard let host = IPAddress(hostText) else { return nil }
        self.init(host: host, port: port)
    }

    /// `127.0.0.1:53`, `[::1]:53`.
    public var description: String {
        switch host {
        case .v4: return "\(host):\(port)"
        case .v6: return "[\(host)]:\(port)"
        }
    }

    /// The `nameserver` lines of a resolv.conf file
    /// ([resolv.conf(5)](https://man7.org/linux/man-pages/man5/resolv.conf.5.html)), in order.
    /// Production reads `/etc/resolv.conf`; tests pass their own file.
    public static func fromResolvConf(path: String = "/etc/resolv.conf") throws -> [DNSServerAddress] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return parseResolvConf(text)
    }

    public static func parseResolvConf(_ text: String) -> [DNSServerAddress] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { return nil }
            // A scoped IPv6 address (fe80::1%eth0) cannot be given to ldns; skip it.
            return DNSServerAddress(parsing: String(fields[1]))
        }
    }
}
