import ArgumentParser
import DKIM
import Foundation

/// `postern dkim bench` (hidden): the cost of one signature, for bench/dkim.sh.
/// Signs the same generated message `--count` times through the streaming
/// signer (64 KiB chunks, as the spool is read) and prints µs per signature.
struct DKIMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure DKIM signing cost (for bench/dkim.sh).", shouldDisplay: false)

    @Option(help: "ed25519 or rsa.")
    var type: String = "ed25519"

    @Option(help: "RSA key size in bits.")
    var bits: Int = 2048

    @Option(help: "Body size in octets.")
    var size: Int = 4096

    @Option(help: "Signatures to make.")
    var count: Int = 1000

    func run() throws {
        guard let keyType = DKIMKeyType(rawValue: type) else { throw ValidationError("--type must be ed25519 or rsa") }
        let signer = DKIMSigner(domain: "example.org", selector: "bench", key: try .generate(keyType, bits: bits))
        let header = Array("""
            From: Bench <bench@example.org>\r
            To: sink@example.net\r
            Subject: DKIM signing cost\r
            Date: Mon, 7 Dec 2026 01:00:00 +0000\r
            Message-ID: <bench@example.org>\r
            MIME-Version: 1.0\r
            Content-Type: text/plain; charset=us-ascii\r
            \r

            """.utf8)
        let line = Array("The quick brown fox jumps over the lazy dog, again and again.   \r\n".utf8)
        var body: [UInt8] = []
        while body.count < size { body += line }
        body = Array(body.prefix(size))
        let message = header + body
        var fields = 0
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for _ in 0..<max(1, count) {
                var signing = signer.begin()
                for start in stride(from: 0, to: message.count, by: 1 << 16) {
                    try signing.update(message[start..<min(start + (1 << 16), message.count)])
                }
                fields += try signing.finish().utf8.count
            }
        }
        let micros = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
        let perSignature = String(format: "%.1f", micros / Double(max(1, count)))
        print("\(signer.key.algorithm.rawValue) size=\(size) count=\(count) us_per_signature=\(perSignature) "
              + "field_octets=\(fields / max(1, count))")
    }
}
