import DNS
import DNSModel
import Foundation

/// `tests/spf/zoneserver.py` run as a child process on a free loopback port, serving
/// zone data written as in the OpenSPF suite. It stops when this object goes away (its
/// standard input closes).
final class ZoneServerProcess: @unchecked Sendable {
    let port: UInt16
    private let process: Process
    private let input: Pipe
    private let zoneFile: URL

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tests/spf/zoneserver.py")

    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts a server. `zone` maps names to entries such as `["A": "192.0.2.1"]`,
    /// `["TXT": ["a", "b"]]`, `["MX": [10, "mx.example"]]` or `"TIMEOUT"`. The wait for
    /// its `PORT` line happens on a thread of its own, not on the tasks' threads.
    static func start(zone: [String: [Any]], timeoutMode: String = "servfail") async throws -> ZoneServerProcess {
        let zoneFile = FileManager.default.temporaryDirectory.appendingPathComponent("zone-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: zone).write(to: zoneFile)
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--zone", zoneFile.path, "--timeout-mode", timeoutMode, "--exit-on-eof"]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let reader = output.fileHandleForReading
        let line: String = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var bytes = Data()
                while !bytes.contains(UInt8(ascii: "\n")) {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    bytes += chunk
                }
                continuation.resume(returning: String(decoding: bytes, as: UTF8.self))
            }
        }
        guard line.hasPrefix("PORT "), let port = UInt16(line.dropFirst(5).prefix { $0.isNumber }) else {
            process.terminate()
            throw StartError(description: "zoneserver.py did not start (said \(line.debugDescription))")
        }
        return ZoneServerProcess(port: port, process: process, input: input, zoneFile: zoneFile)
    }

    private init(port: UInt16, process: Process, input: Pipe, zoneFile: URL) {
        self.port = port
        self.process = process
        self.input = input
        self.zoneFile = zoneFile
    }

    deinit {
        // Closing its standard input ends the server (--exit-on-eof).
        try? input.fileHandleForWriting.close()
        try? FileManager.default.removeItem(at: zoneFile)
    }

    var address: DNSServerAddress { DNSServerAddress(host: .v4(IPv4Address(127, 0, 0, 1)), port: port) }

    /// A resolver for this server alone.
    func resolver(timeout: Duration = .seconds(2), attempts: Int = 1, threads: Int = 2, validating: Bool = false) throws -> LDNSResolver {
        try LDNSResolver(configuration: .init(servers: [address], timeout: timeout, attempts: attempts, threads: threads,
                                              validating: validating))
    }

    /// How many queries the server has answered so far (asked without a cache).
    func queryCount() async throws -> Int {
        let result = try await resolver().lookupTXT(DNSName("query-count.zoneserver.invalid")!)
        return Int(result.records.first?.text ?? "") ?? -1
    }
}
