import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// Real SMTP servers on loopback for the end-to-end tests: Postfix's
/// smtp-sink and the aiosmtpd recorder in tests/delivery/sink.py. Each runs
/// as a child process in a temporary directory and is stopped by the test.
enum LoopbackPeers {
    static let smtpSinkPath = "/usr/sbin/smtp-sink"

    /// tests/delivery/sink.py, found from this file (through symlinks).
    static var sinkScript: String {
        if let path = ProcessInfo.processInfo.environment["POSTERN_SINK_PY"] { return path }
        let here = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tests/delivery/sink.py").path
    }

    static func temporaryDirectory(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "postern-delivery-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A port nothing listens on right now.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }

    /// Waits until something accepts connections on the port.
    static func waitForListener(port: Int) async throws {
        for _ in 0..<100 {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw PeerError("nothing listens on port \(port)")
    }

    /// A self-signed certificate for "localhost" and 127.0.0.1: (cert, key).
    static func makeCertificate(in directory: String) throws -> (String, String) {
        let cert = directory + "/cert.pem", key = directory + "/key.pem"
        try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                     "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                                     "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        return (cert, key)
    }

    /// SIGKILL: children started by Foundation's Process inherit a signal
    /// mask that blocks SIGTERM, and smtp-sink would outlive the test.
    static func kill(_ process: Process) {
        guard process.isRunning else { return }
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw PeerError("\(executable) exited \(process.terminationStatus)") }
    }
}

struct PeerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// tests/delivery/sink.py as a child process; stdin is a pipe it watches,
/// so it ends with the test process even if `stop()` is never reached.
final class PythonSink: @unchecked Sendable {
    struct Record: Decodable {
        var mail_from: String
        var rcpt_tos: [String]
        var mail_options: [String]
        var tls: Bool
        var auth_user: String?
        var peer_port: Int?
    }

    let directory: String
    let port: Int
    private let process = Process()
    private let input = Pipe()

    init(_ arguments: [String] = []) throws {
        directory = try LoopbackPeers.temporaryDirectory("aiosmtpd")
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", LoopbackPeers.sinkScript, "--dir", directory + "/mail"] + arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let data = output.fileHandleForReading.availableData
            guard !data.isEmpty else { throw PeerError("sink.py did not start") }
            line.append(data)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("READY "), let port = Int(text.dropFirst(6)) else { throw PeerError("sink.py said \(text)") }
        self.port = port
    }

    /// More paths to remove on `stop()` (certificates made for this sink).
    var alsoRemove: [String] = []

    func stop() {
        try? input.fileHandleForWriting.close()
        LoopbackPeers.kill(process)
        for path in [directory] + alsoRemove { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The messages accepted so far, in order: envelope record and content.
    func messages() throws -> [(record: Record, content: Data)] {
        var result: [(Record, Data)] = []
        var number = 1
        while let json = FileManager.default.contents(atPath: "\(directory)/mail/\(number).json") {
            let content = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/mail/\(number).eml"))
            result.append((try JSONDecoder().decode(Record.self, from: json), content))
            number += 1
        }
        return result
    }
}

/// Postfix's smtp-sink, dumping each message to a file (LF line ends, its
/// own X- headers and a three-line Received header first).
final class PostfixSink: @unchecked Sendable {
    let directory: String
    let port: Int
    private let process: Process

    init(_ arguments: [String] = []) async throws {
        directory = try LoopbackPeers.temporaryDirectory("smtp-sink")
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory)
        let user = geteuid() == 0 ? ["-u", "nobody"] : []
        // The free port may be taken by another process before smtp-sink
        // binds it (it then exits): try again with another.
        for attempt in 1... {
            let port = try await LoopbackPeers.freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: LoopbackPeers.smtpSinkPath)
            process.arguments = user + arguments + ["-d", directory + "/%M.", "127.0.0.1:\(port)", "100"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await LoopbackPeers.waitForListener(port: port)
            try await Task.sleep(for: .milliseconds(50))
            if process.isRunning || attempt == 5 {
                self.port = port
                self.process = process
                return
            }
        }
        fatalError("unreachable")
    }

    func stop() {
        LoopbackPeers.kill(process)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Each dump (in no particular order) split into smtp-sink's headers and
    /// the message as received (LF line ends, without the trailing empty line).
    func dumps(expecting count: Int) async throws -> [(headers: [String], message: String)] {
        for _ in 0..<100 {
            let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            let texts = names.compactMap { FileManager.default.contents(atPath: "\(directory)/\($0)") }
                .map { String(decoding: $0, as: UTF8.self) }
            if texts.count >= count, texts.allSatisfy({ $0.hasSuffix("\n\n") || $0.hasSuffix("\n") }) {
                return try texts.map(Self.split)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw PeerError("smtp-sink wrote fewer than \(count) dumps")
    }

    private static func split(_ text: String) throws -> (headers: [String], message: String) {
        var lines = text.components(separatedBy: "\n")
        guard let received = lines.firstIndex(where: { $0.hasPrefix("Received: ") }) else { throw PeerError("no Received") }
        let headers = Array(lines[..<received])
        lines.removeFirst(received + 3)
        // The dump ends with the message's last line end, then an empty line.
        return (headers, lines.dropLast(2).map { $0 + "\n" }.joined())
    }
}
