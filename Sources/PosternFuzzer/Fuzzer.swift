// Fuzz target for the command parser, the framing decoder and the session
// state machine together: the input is fed in chunks (first byte = chunk
// size) as a client would send it, and framing follows the session's actions
// (354 → DATA mode, BDAT → chunk mode) exactly as the NIO handler does.
//
// Fuzzing build (see README "Fuzzing"):
//   swift build --product PosternFuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
// A normal build replays files and directories given as arguments.
import NIOCore
import SMTPCore

#if canImport(Glibc)
import Glibc
#endif

enum FuzzReplies {
    static let refusal = SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 7, 1), text: "refused")
    static let wrongPassword = SMTPReply(code: 535, enhanced: EnhancedStatusCode(5, 7, 8), text: "wrong")
}

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    guard let first = bytes.first else { return }
    let chunkSize = Int(first) + 1
    var limits = SMTPLimits()
    limits.maxMessageSize = 4096
    limits.maxRecipients = 5
    limits.maxErrors = 50
    var session = ServerSession(configuration: .init(hostname: "fuzz.example", limits: limits, tlsAvailable: true,
                                                     authMechanisms: ["PLAIN", "LOGIN"], authRequiresTLS: false))
    var decoder = SMTPFrameDecoder(maxLineLength: 128)
    var buffer = ByteBuffer()
    var previousWasCR = false
    var offset = 1
    while offset < bytes.count {
        let end = min(bytes.count, offset + chunkSize)
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
        offset = end
        while let frame = decoder.next(&buffer) {
            var action: ServerSession.Action?
            switch frame {
            case .command(let line):
                do { action = session.receive(try CommandParser.parse(line.readableBytesView)) }
                catch { action = session.receive(error) }
            case .commandTooLong:
                action = session.lineTooLong()
            case .dataContent(let content):
                // Invariant: DATA content never holds a CR or LF outside a CRLF pair.
                for byte in content.readableBytesView {
                    precondition(!(previousWasCR && byte != UInt8(ascii: "\n")), "bare CR passed the decoder")
                    precondition(!(byte == UInt8(ascii: "\n") && !previousWasCR), "bare LF passed the decoder")
                    previousWasCR = byte == UInt8(ascii: "\r")
                }
                _ = session.contentReceived(content.readableBytes)
            case .dataEnd:
                precondition(!previousWasCR, "DATA ended inside a CRLF pair")
                action = session.contentEnded()
            case .dataBareLineEnding:
                action = session.bareLineEnding()
            case .chunkContent(let content):
                _ = session.contentReceived(content.readableBytes)
            case .chunkEnd:
                action = session.contentEnded()
            }
            guard let action else { continue }
            switch action {
            case .close:
                return
            case .startData:
                previousWasCR = false
                decoder.beginData()
            case .startChunk(let size), .discardChunk(let size, _):
                decoder.beginChunk(size: min(size, 1 << 20))
            case .commit:
                _ = session.commitSucceeded(queueID: "0000000000000001")
            case .startTLS:
                session.tlsEstablished()
            case .reply, .abortMessage, .checkHELO:
                break
            case .checkSender(let transaction):
                // Alternate verdicts so both paths of the policy hooks run.
                let refuse = session.errorCount % 2 == 1
                _ = session.senderChecked(transaction, refusal: refuse ? FuzzReplies.refusal : nil)
            case .checkRecipient(let recipient):
                _ = session.recipientChecked(recipient, refusal: recipient.address.count % 3 == 0 ? FuzzReplies.refusal : nil)
            case .authenticate(_, let initialResponse):
                // The SASL decoders see whatever the client sent (RFC 4616).
                if let initialResponse {
                    _ = try? SASL.decodePlain(initialResponse)
                    _ = try? SASL.decodeBase64Text(initialResponse)
                }
                if initialResponse == nil {
                    if case .close = session.authFailed(FuzzReplies.wrongPassword) { return }
                } else {
                    _ = session.authSucceeded(user: "fuzz")
                }
            }
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// SwiftPM makes the executable's entry point `main`, so libFuzzer's own
/// main is not used: hand control to its driver (LLVM ≥ 12).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@main
enum FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = Optional(CommandLine.unsafeArgv)
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
    }
}
#else
/// Replay mode: runs every file named (or inside a directory named).
func replay(_ path: String) -> Int {
    var isDirectory = stat()
    guard stat(path, &isDirectory) == 0 else {
        print("PosternFuzzer: cannot read \(path)")
        exit(2)
    }
    if (isDirectory.st_mode & S_IFMT) == S_IFDIR {
        guard let dir = opendir(path) else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            count += replay(path + "/" + name)
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
    bytes.withUnsafeBytes { fuzzOne($0) }
    return 1
}

@main
enum Replay {
    static func main() {
        let count = CommandLine.arguments.dropFirst().reduce(0) { $0 + replay($1) }
        print("PosternFuzzer: replayed \(count) inputs without a crash")
    }
}
#endif
