import ArgumentParser
import Foundation
import NIOPosix
import Policy
import PosternDaemon
import Scanning

/// `postern scan`: the raw verdicts of a policy's scanners for message
/// files, for tuning thresholds and checking that scanners answer.
struct ScanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Send message files to a policy's [[scan]] scanners and print their raw verdicts.",
        discussion: """
            Every scanner of --policy gets each FILE at once, as a message would at the end of \
            DATA (max_size, max_in_flight and the timeout apply; the circuit breaker does not \
            outlive the command). Nothing is queued. --repeat N scans each file N times and \
            prints the mean milliseconds per scan (the benchmark in bench/ uses it). Exit status \
            0 when every scanner answered, 1 when one failed, 2 for bad arguments, 78 for \
            policy errors.
            """)

    @Option(help: ArgumentHelp("The policy file whose [[scan]] tables name the scanners.", valueName: "file"))
    var policy: String

    @Option(help: ArgumentHelp("Only the scanner of this name (repeatable).", valueName: "name"))
    var only: [String] = []

    @Option(help: ArgumentHelp("Scan each file this many times (timing).", valueName: "n"))
    var `repeat` = 1

    @Flag(help: "One JSON object per file and scanner.")
    var json = false

    @Argument(help: ArgumentHelp("Message files (RFC 5322, CRLF or LF line ends).", valueName: "file"))
    var files: [String]

    func validate() throws {
        guard (1...100_000).contains(`repeat`) else { throw ValidationError("--repeat must be between 1 and 100000") }
        guard !files.isEmpty else { throw ValidationError("give at least one message file") }
    }

    func run() async throws {
        let config = try PolicyCommand.load(policy)
        let rules = config.scans.filter { only.isEmpty || only.contains($0.name) }
        guard !rules.isEmpty else {
            FileHandle.standardError.write(Data("postern: \(policy) has no [[scan]] \(only.isEmpty ? "table" : "named \(only.joined(separator: ", "))")\n".utf8))
            throw ExitCode(78)
        }
        let filter: ScanFilter
        do {
            guard let made = try ScanFilter.make(rules: rules, hostname: "postern.scan", group: MultiThreadedEventLoopGroup.singleton)
            else { throw ExitCode(78) }
            try await made.prepare()
            filter = made
        } catch let error as ScanFilter.BuildError {
            FileHandle.standardError.write(Data("postern: \(error)\n".utf8))
            throw ExitCode(78)
        }
        var failed = false
        for file in files {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
                  let size = (attributes[.size] as? NSNumber)?.intValue else {
                FileHandle.standardError.write(Data("postern: cannot read \(file)\n".utf8))
                throw ExitCode(1)
            }
            let request = ScanRequest(message: MessageSource(path: file, size: size), clientIP: "127.0.0.1", helo: "localhost")
            var results = await filter.scanAll(request)
            var total = results.map(\.microseconds)
            for _ in 1..<`repeat` {
                let again = await filter.scanAll(request)
                total = zip(total, again.map(\.microseconds)).map { $0 + $1 }
                results = again
            }
            for (result, microseconds) in zip(results, total) {
                if case .verdict(.error) = result.outcome { failed = true }
                let mean = Double(microseconds) / 1000 / Double(`repeat`)
                print(json ? Self.json(file: file, result, mean: mean) : Self.text(file: file, result, mean: mean, repeated: `repeat` > 1))
            }
        }
        if failed { throw ExitCode(1) }
    }

    static func text(file: String, _ result: ScanResult, mean: Double, repeated: Bool) -> String {
        var line = "\(file): \(result.name): "
        switch result.outcome {
        case .verdict(.scored(let report)):
            line += "\(report.isSpam ? "spam" : "ham") score=\(ScanVerdict.score(report.score)) required=\(ScanVerdict.score(report.threshold))"
                + " action=\"\(report.action.rawValue)\" symbols=\(report.symbols.joined(separator: ","))"
            for field in report.addHeaders { line += "\n    adds \(field.name): \(field.value)" }
            for name in report.removeHeaders { line += "\n    removes \(name)" }
            if let subject = report.subject { line += "\n    subject: \(subject)" }
        case .verdict(let verdict): line += verdict.summary
        case .oversized(let size, let limit): line += "not sent: \(size) octets over max_size \(limit)"
        case .breakerOpen: line += "not sent: breaker open"
        }
        let time = repeated ? String(format: "%.3f ms mean", mean) : String(format: "%.1f ms", mean)
        return line + " (\(time))"
    }

    static func json(file: String, _ result: ScanResult, mean: Double) -> String {
        var object: [String: Any] = ["file": file, "scanner": result.name, "milliseconds": mean]
        switch result.outcome {
        case .verdict(.clean): object["result"] = "clean"
        case .verdict(.infected(let name)): object["result"] = "infected"; object["virus"] = name
        case .verdict(.scored(let report)):
            object["result"] = report.isSpam ? "spam" : "ham"
            object["score"] = report.score
            object["required"] = report.threshold
            object["action"] = report.action.rawValue
            object["symbols"] = report.symbols
        case .verdict(.tooLarge(let why)): object["result"] = "too_large"; object["reason"] = why
        case .verdict(.error(let why)): object["result"] = "error"; object["reason"] = why
        case .oversized(let size, let limit): object["result"] = "skipped"; object["reason"] = "\(size) octets over max_size \(limit)"
        case .breakerOpen: object["result"] = "skipped"; object["reason"] = "breaker open"
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
