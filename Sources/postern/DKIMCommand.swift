import ArgumentParser
import DKIM
import DNS
import DNSModel
import Foundation
import PosternDaemon

/// `postern dkim …`: DKIM keys and signatures (RFC 6376, RFC 8463).
struct DKIMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkim",
        abstract: "DKIM signing keys and signature checks (RFC 6376, RFC 8463).",
        subcommands: [DKIMKeygen.self, DKIMCheck.self, DKIMVerify.self, DKIMBench.self])
}

/// `postern dkim keygen`: a new private key and the TXT record to publish.
struct DKIMKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new DKIM private key (mode 0600) and print the DNS TXT record to publish.",
        discussion: """
            The record is printed as one zone-file line, its text split into strings of at \
            most 255 octets (RFC 1035 §3.3.14); DNS joins them again (RFC 6376 §3.6.2.2). \
            An existing file is never overwritten.
            """)

    @Option(help: ArgumentHelp("The signing domain (d=).", valueName: "domain"))
    var domain: String

    @Option(help: ArgumentHelp("The selector (s=).", valueName: "selector"))
    var selector: String

    @Option(help: ArgumentHelp("ed25519 or rsa.", valueName: "type"))
    var type: String = "rsa"

    @Option(help: ArgumentHelp("RSA key size in bits (2048 to 8192).", valueName: "bits"))
    var bits: Int = 2048

    @Option(help: ArgumentHelp("Where to write the key; default DOMAIN.SELECTOR.key.", valueName: "file"))
    var out: String?

    func validate() throws {
        guard DKIMKeyType(rawValue: type) != nil else { throw ValidationError("--type must be ed25519 or rsa") }
        guard (2048...8192).contains(bits) else { throw ValidationError("--bits must be between 2048 and 8192") }
        guard DKIMRecordName.make(selector: selector, domain: domain) != nil else {
            throw ValidationError("--selector and --domain must make a DNS name")
        }
    }

    func run() throws {
        let key = try DKIMSigningKey.generate(DKIMKeyType(rawValue: type) ?? .rsa, bits: bits)
        let path = out ?? "\(domain).\(selector).key"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let pem = Array(key.pemRepresentation.utf8)
        guard pem.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == pem.count, fsync(fd) == 0 else {
            throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        print("# private key written to \(path); publish this record:")
        print(DKIMRecordName.zoneLine(selector: selector, domain: domain, record: key.publicKeyRecord.rendered))
    }
}

/// `postern dkim check`: whether the published record is usable and matches a key.
struct DKIMCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Fetch SELECTOR._domainkey.DOMAIN and say whether it is a usable key record matching --key.",
        discussion: "Exit status 0: the record is usable (and matches --key when given); 1: it is not.")

    @Option(help: ArgumentHelp("The signing domain (d=).", valueName: "domain"))
    var domain: String

    @Option(help: ArgumentHelp("The selector (s=).", valueName: "selector"))
    var selector: String

    @Option(help: ArgumentHelp("The private key file the record should match.", valueName: "file"))
    var key: String?

    @Option(name: .customLong("dns"),
            help: ArgumentHelp("A name server as HOST or HOST:PORT; repeat for more.", valueName: "host:port"))
    var servers: [String] = []

    func validate() throws {
        try CommandNameServers.validate(servers)
        guard DKIMRecordName.make(selector: selector, domain: domain) != nil else {
            throw ValidationError("--selector and --domain must make a DNS name")
        }
    }

    func run() async throws {
        let privateKey = try key.map { path in try DKIMPolicyNames.loadKey(path) }
        let name = DKIMRecordName.make(selector: selector, domain: domain)!
        let resolver = try LDNSResolver(configuration: .init(servers: try CommandNameServers.addresses(servers),
                                                             timeout: .seconds(3), threads: 1))
        defer { resolver.shutdown() }
        let answer = await resolver.lookupTXT(name)
        let verdict = Self.judge(answer, key: privateKey)
        print("\(name): \(verdict.text)")
        if !verdict.ok { throw ExitCode(1) }
    }

    static func judge(_ answer: DNSLookupResult<TXTRecord>, key: DKIMSigningKey?) -> (ok: Bool, text: String) {
        switch answer {
        case .failure(let error): return (false, "lookup failed: \(error)")
        case .void: return (false, "no TXT record")
        case .answer(let records, _):
            var problems: [String] = []
            for record in records {
                let text = record.text
                guard let parsed = try? DKIMKeyRecord(parsing: record.joined) else {
                    problems.append("not a DKIM key record: \(text)")
                    continue
                }
                if parsed.isRevoked { problems.append("the key is revoked (empty p=)"); continue }
                guard let key else { return (true, "usable \(parsed.keyType.rawValue) key record") }
                if parsed.keyType == key.publicKeyRecord.keyType && parsed.publicKey == key.publicKeyRecord.publicKey {
                    return (true, "matches the key (\(parsed.keyType.rawValue))")
                }
                problems.append("the record's key differs from the private key's")
            }
            return (false, problems.joined(separator: "; "))
        }
    }
}

/// `postern dkim verify FILE`: each signature's result.
struct DKIMVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify every DKIM-Signature of a message file and print one result per signature.",
        discussion: """
            Each line: RESULT [(reason)] header.d=… header.s=… header.b=…, or "none" when the \
            message has no signature. LF line ends are read as CRLF. Exit status 0 when every \
            signature passes and there is at least one, else 1.
            """)

    @Argument(help: ArgumentHelp("The message (RFC 5322), header section first.", valueName: "file"))
    var file: String

    @Option(name: .customLong("dns"),
            help: ArgumentHelp("A name server as HOST or HOST:PORT; repeat for more.", valueName: "host:port"))
    var servers: [String] = []

    func validate() throws {
        try CommandNameServers.validate(servers)
    }

    func run() async throws {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw ValidationError("cannot read \(file)") }
        let resolver = try LDNSResolver(configuration: .init(servers: try CommandNameServers.addresses(servers),
                                                             timeout: .seconds(3), threads: 1))
        defer { resolver.shutdown() }
        let verifier = DKIMVerifier(resolver: CachingResolver(upstream: resolver))
        var verification = verifier.begin()
        var lineEnds = LineEndNormalizer()
        while let data = try handle.read(upToCount: 1 << 16), !data.isEmpty {
            try verification.update(lineEnds.crlf(Array(data)))
        }
        let results = await verifier.finish(verification)
        if results.isEmpty { print("none") }
        for result in results {
            print([result.result.description, result.properties].filter { !$0.isEmpty }.joined(separator: " "))
        }
        if results.isEmpty || results.contains(where: { $0.result != .pass }) { throw ExitCode(1) }
    }
}

/// Bare LF becomes CRLF, across chunk boundaries (files saved by a Unix MUA).
struct LineEndNormalizer {
    private var previousWasCR = false

    mutating func crlf(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 32)
        for byte in bytes {
            if byte == 0x0A && !previousWasCR { out.append(0x0D) }
            out.append(byte)
            previousWasCR = byte == 0x0D
        }
        return out
    }
}

/// `SELECTOR._domainkey.DOMAIN` and how it is published.
enum DKIMRecordName {
    static func make(selector: String, domain: String) -> DNSName? {
        DNSName("\(selector)._domainkey.\(domain)")
    }

    /// One zone-file line; the text in strings of at most 255 octets.
    static func zoneLine(selector: String, domain: String, record: String) -> String {
        let strings = TXTRecord(record).strings.map { "\"\(String(decoding: $0, as: UTF8.self))\"" }
        return "\(selector)._domainkey.\(domain). IN TXT ( \(strings.joined(separator: " ")) )"
    }
}
