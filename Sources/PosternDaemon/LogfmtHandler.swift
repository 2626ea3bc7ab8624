import Foundation
import Synchronization
import Logging

/// One line per event, logfmt (`ts=… level=info msg="queued" id=…`) or JSON,
/// on standard error. Metadata keys are sorted so lines diff well.
public struct PosternLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case logfmt, json
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: Format
    /// One line at a time on standard error, whichever thread logs.
    private static let output = Mutex(())

    public init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line: [UInt8]
        switch format {
        case .logfmt:
            line = Self.logfmtLine(timestamp: LogTimestamp.now(), level: event.level, message: event.message.description,
                                   metadata: Self.sortedMetadata(metadata, event.metadata))
        case .json:
            var all = metadata
            if let extra = event.metadata { all.merge(extra) { $1 } }
            var object: [String: String] = ["ts": String(decoding: LogTimestamp.now(), as: UTF8.self),
                                            "level": "\(event.level)", "msg": event.message.description]
            for (key, value) in all { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            line = Array(data) + [0x0A]
        }
        Self.output.withLock { _ in Self.writeToStandardError(line) }
    }

    /// The handler's metadata with the event's on top, sorted by key;
    /// no merged dictionary is built (three lines per message, issue #15).
    static func sortedMetadata(_ base: Logger.Metadata, _ extra: Logger.Metadata?) -> [(key: String, value: Logger.MetadataValue)] {
        var entries = Array(base)
        if let extra, !extra.isEmpty {
            if !entries.isEmpty { entries.removeAll { extra[$0.key] != nil } }
            entries += extra
        }
        entries.sort { $0.key < $1.key }
        return entries
    }

    /// `ts=… level=… msg=… key=value…` and a newline, as bytes.
    static func logfmtLine(timestamp: [UInt8], level: Logger.Level, message: String,
                           metadata: [(key: String, value: Logger.MetadataValue)]) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(128 + metadata.count * 24)
        line += "ts=".utf8
        line += timestamp
        line += " level=".utf8
        line += level.rawValue.utf8
        line += " msg=".utf8
        appendLogfmtValue(message, to: &line)
        for (key, value) in metadata {
            line.append(0x20)
            line += key.utf8
            line.append(UInt8(ascii: "="))
            if case .string(let text) = value { appendLogfmtValue(text, to: &line) }
            else { appendLogfmtValue(value.description, to: &line) }
        }
        line.append(0x0A)
        return line
    }

    /// Every octet, retrying after a signal; a failing standard error loses
    /// the line rather than stopping the daemon.
    private static func writeToStandardError(_ line: [UInt8]) {
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(2, raw.baseAddress! + offset, raw.count - offset)
                if written > 0 { offset += written }
                else if written < 0 && errno == EINTR { continue }
                else { return }
            }
        }
    }

    static func logfmtValue(_ value: String) -> String {
        var bytes: [UInt8] = []
        appendLogfmtValue(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A space, a control, a quote or "=": the value must be quoted.
    private static func needsQuote(_ octet: UInt8) -> Bool {
        octet <= 0x20 || octet == UInt8(ascii: "\"") || octet == UInt8(ascii: "=") || octet == 0x7F
    }

    /// Bare when it has no space, control, quote or "=", quoted and escaped otherwise.
    static func appendLogfmtValue(_ value: String, to out: inout [UInt8]) {
        // The octets in place (withUTF8): iterating String.UTF8View
        // generically cost ~400 instructions a value (issue #15).
        var value = value
        value.withUTF8 { octets in
            guard octets.isEmpty || octets.contains(where: needsQuote) else { return out.append(contentsOf: octets) }
            out.append(UInt8(ascii: "\""))
            for byte in octets {
                switch byte {
                case UInt8(ascii: "\""): out += #"\""#.utf8
                case UInt8(ascii: "\\"): out += #"\\"#.utf8
                case UInt8(ascii: "\n"): out += #"\n"#.utf8
                case UInt8(ascii: "\r"): out += #"\r"#.utf8
                case 0..<0x20, 0x7F: out += "\\x\(String(byte, radix: 16))".utf8
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
    }
}
