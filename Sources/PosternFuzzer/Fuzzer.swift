// libFuzzer entry point for every parser that reads what someone else
// wrote. One binary, one target per run, chosen by POSTERN_FUZZ_TARGET, so
// each run spends all its time (and its own corpus and coverage) on one
// parser. See README "Fuzzing".
//
// Fuzzing build (what `make fuzz` does):
//   swift build --product PosternFuzzer --scratch-path .build-fuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
//   POSTERN_FUZZ_TARGET=mime .build-fuzz/debug/PosternFuzzer fuzz/mime
// A normal build replays files and directories given as arguments; a
// directory under fuzz/ is replayed through the target it is named after.
#if canImport(Glibc)
import Glibc
#endif

/// The parsers under test. Each reads bytes exactly as they arrive from
/// outside and checks an invariant beyond "does not crash".
enum FuzzTarget: String, CaseIterable {
    /// Command parser, framing decoder, session state machine, SASL.
    case smtp
    /// The SIMD plain-line scan under DATA framing, the text check and
    /// dot-stuffing, each against itself fed octet by octet.
    case text
    /// MIME parser and the transfer decoders it streams bodies through.
    case mime
    /// Header sections, RFC 2047 words, RFC 2231 parameters, header writing.
    case header
    /// The TOML reader and the configuration and policy loaders above it.
    case toml
    /// SPF records and macro strings as DNS TXT answers carry them.
    case spf
    /// DNS wire answers through libldns and our conversion to records.
    case dns
    /// The delivery client's reply parser.
    case reply
    /// The queue's envelope files, as read back after a crash.
    case envelope
    /// The commit journal, as replayed after a crash.
    case journal
    /// The fields a quarantine file starts with, DSN parameters included.
    case quarantine
    /// clamd, spamd and rspamd replies, and the scan step's use of them.
    case scanner
    /// IMAP command framing (literals) and the command grammar.
    case imap
    /// IMAP message rendering (ENVELOPE, BODYSTRUCTURE, sections) and SEARCH.
    case imapmessage
    /// POP3 commands, the session state machine and RETR/TOP byte-stuffing.
    case pop3
    /// The PROXY protocol header a load balancer sends first (v1 and v2).
    case proxy
    /// DMARC records, the From domain and Authentication-Results values.
    case dmarc
    /// DKIM tag-lists, DKIM-Signature fields, key records, body hashes.
    case dkim
    /// MTA-STS TXT records and policies, the ServerHello cipher reader.
    case tlspolicy

    func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .smtp: SMTPTarget.run(bytes)
        case .text: TextTarget.run(bytes)
        case .mime: MIMETarget.run(bytes)
        case .header: HeaderTarget.run(bytes)
        case .toml: TOMLTarget.run(bytes)
        case .spf: SPFTarget.run(bytes)
        case .dns: DNSTarget.run(bytes)
        case .reply: ReplyTarget.run(bytes)
        case .envelope: EnvelopeTarget.run(bytes)
        case .journal: JournalTarget.run(bytes)
        case .quarantine: QuarantineTarget.run(bytes)
        case .scanner: ScannerTarget.run(bytes)
        case .imap: IMAPTarget.run(bytes)
        case .imapmessage: IMAPMessageTarget.run(bytes)
        case .pop3: POP3Target.run(bytes)
        case .proxy: ProxyTarget.run(bytes)
        case .dmarc: DMARCTarget.run(bytes)
        case .dkim: DKIMTarget.run(bytes)
        case .tlspolicy: TLSPolicyTarget.run(bytes)
        }
    }

    static let environmentVariable = "POSTERN_FUZZ_TARGET"

    /// The target named in the environment, nil when the variable is unset;
    /// exits when it names no target.
    static func fromEnvironment() -> FuzzTarget? {
        guard let pointer = getenv(environmentVariable) else { return nil }
        let name = String(cString: pointer)
        guard let target = FuzzTarget(rawValue: name) else {
            printError("PosternFuzzer: unknown target \"\(name)\"; one of \(allCases.map(\.rawValue).joined(separator: ", "))")
            exit(2)
        }
        return target
    }
}

/// Writes a line to standard error, where libFuzzer reports too.
func printError(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Fails the run when an invariant does not hold: libFuzzer keeps the input
/// as a crash artifact, replay stops with the message.
func invariant(_ condition: Bool, _ message: @autoclosure () -> String,
               file: StaticString = #fileID, line: UInt = #line) {
    guard !condition else { return }
    printError("PosternFuzzer: invariant failed at \(file):\(line): \(message())")
    abort()
}

#if FUZZING
/// SwiftPM makes the executable's entry point `main`, so libFuzzer's own
/// main is not used: hand control to its driver (LLVM ≥ 12).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

/// Set once before the driver starts; read by the C callback.
nonisolated(unsafe) var selectedTarget = FuzzTarget.smtp

/// libFuzzer's own `main` (linked in, though unused) refers to this symbol.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selectedTarget.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@main
enum FuzzMain {
    static func main() {
        guard let target = FuzzTarget.fromEnvironment() else {
            printError("PosternFuzzer: set \(FuzzTarget.environmentVariable) to one of "
                  + "\(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
            exit(2)
        }
        selectedTarget = target
        var argc = CommandLine.argc
        var argv = Optional(CommandLine.unsafeArgv)
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzerTestOneInput(data, size) })
    }
}
#else
/// Replay mode: runs every file named (or inside a directory named) through
/// the target in the environment, else the one its directory is named after.
func replay(_ path: String, target: FuzzTarget?) -> Int {
    var status = stat()
    guard stat(path, &status) == 0 else {
        print("PosternFuzzer: cannot read \(path)")
        exit(2)
    }
    let isDirectory = (status.st_mode & S_IFMT) == S_IFDIR
    // fuzz/mime and fuzz/mime/<file> both replay through "mime".
    let components = path.split(separator: "/")
    let directoryName = isDirectory ? components.last : components.dropLast().last
    guard let target = target ?? directoryName.flatMap({ FuzzTarget(rawValue: String($0)) }) else {
        print("PosternFuzzer: no target for \(path); name its directory after one or set \(FuzzTarget.environmentVariable)")
        exit(2)
    }
    if isDirectory {
        guard let dir = opendir(path) else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            count += replay(path + "/" + name, target: target)
        }
        return count
    }
    guard let file = fopen(path, "rb") else { return 0 }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    bytes.withUnsafeBytes { target.run($0) }
    return 1
}

@main
enum Replay {
    static func main() {
        let target = FuzzTarget.fromEnvironment()
        let count = CommandLine.arguments.dropFirst().reduce(0) { $0 + replay($1, target: target) }
        print("PosternFuzzer: replayed \(count) inputs without a crash")
    }
}
#endif
