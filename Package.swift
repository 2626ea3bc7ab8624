// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Postern",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "postern", targets: ["postern"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // DKIM keys and signatures (Ed25519, RSA via _CryptoExtras); hashes and X.509
        // parsing for DANE (RFC 7672): TLSA digests, the DANE-TA chain.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .target(name: "CPosternSys"),
        .systemLibrary(name: "CLDNS", pkgConfig: "ldns", providers: [.apt(["libldns-dev"])]),
        .target(name: "DNSModel"),
        .target(name: "DNS", dependencies: ["CLDNS", "DNSModel"]),
        .target(name: "SPF", dependencies: ["DNSModel"]),
        // crypt(3) from libxcrypt: yescrypt, SHA-512-crypt and bcrypt hashes for SMTP AUTH.
        .systemLibrary(name: "CCrypt", providers: [.apt(["libcrypt-dev"])]),
        // libclamav for the in-process virus scanner (GPLv2: see README "License").
        .systemLibrary(name: "CClamAV", pkgConfig: "libclamav", providers: [.apt(["libclamav-dev"])]),
        // DMARC (RFC 7489), the Public Suffix List and Authentication-Results
        // (RFC 8601): pure, DNS through DNSModel's resolver protocol (issue #13).
        .target(name: "DMARC", dependencies: ["MailMessage", "DNSModel"]),
        // The SIMD scan over whole plain lines that DATA framing, the text check and dot-stuffing share (issue #15).
        .target(name: "CTextScan"),
        .target(name: "SMTPCore", dependencies: ["CTextScan", .product(name: "NIOCore", package: "swift-nio")]),
        // The PROXY protocol header (v1 and v2) a load balancer sends first (issue #13).
        .target(name: "ProxyProtocol", dependencies: ["DNSModel", .product(name: "NIOCore", package: "swift-nio")]),
        .target(name: "MailMessage", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        // IMAP4rev1 (RFC 3501): command framing and grammar, response encoding, message
        // rendering (ENVELOPE, BODYSTRUCTURE, sections) and SEARCH; no I/O (issue #14).
        .target(name: "IMAPCore", dependencies: ["MailMessage", .product(name: "NIOCore", package: "swift-nio")]),
        // POP3 (RFC 1939, 2449, 2595, 5034): grammar, replies, the session state
        // machine and byte-stuffing; no I/O (issue #14). SASL PLAIN and line
        // framing come from SMTPCore, the redacted secret type from IMAPCore.
        .target(name: "POP3Core", dependencies: ["SMTPCore", "IMAPCore", .product(name: "NIOCore", package: "swift-nio")]),
        // DKIM signing and verification (RFC 6376, RFC 8463): tag-lists, canonicalisation,
        // streamed body hashes; keys through swift-crypto, DNS through DNSResolver (issue #13).
        .target(name: "DKIM", dependencies: [
            "DNSModel", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .target(name: "MailQueue", dependencies: [
            "SMTPCore", "MailMessage", "CPosternSys", .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // What IMAP and POP3 sessions see: the quarantine per user, local Maildirs (issue #14).
        .target(name: "MailStore", dependencies: ["MailQueue", "Policy", "MailMessage", "SMTPCore"]),
        .target(name: "Policy", dependencies: [
            "SMTPCore", "MailMessage", "SPF", "DNSModel", "DMARC", "DKIM", .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // MTA-STS (RFC 8461): the TXT record, the policy grammar, MX patterns and the
        // cache are pure; the HTTPS fetch goes through async-http-client, connecting to
        // addresses Postern's own resolver found (never getaddrinfo on a name).
        .target(name: "MTASTS", dependencies: [
            "DNSModel",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Delivery", dependencies: [
            "SMTPCore", "MailQueue", "MailMessage", "DNSModel", "MTASTS",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        // Content scanners (clamd, spamd, rspamd, libclamav) and the policy's scan step.
        .target(name: "Scanning", dependencies: [
            "Policy", "MailMessage", "SMTPCore", "CClamAV",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        .target(name: "SMTPServer", dependencies: [
            "SMTPCore", "MailMessage", "MailQueue", "Policy", "DNSModel", "CCrypt", "ProxyProtocol", "SPF", "DKIM",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // The POP3 listener: NIO handler, STLS and implicit TLS, logins against
        // the SMTP AUTH password file, the maildrop through MailStore.
        .target(name: "POP3Server", dependencies: [
            "POP3Core", "SMTPServer", "SMTPCore", "IMAPCore", "MailStore", "DNSModel",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // The IMAP server over MailStore (issue #14); passwords as SMTP AUTH.
        .target(name: "IMAPServer", dependencies: [
            "IMAPCore", "MailStore", "SMTPServer", "SMTPCore",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "PosternDaemon", dependencies: [
            "SMTPServer", "MailQueue", "SMTPCore", "Delivery", "MTASTS", "DNS", "DNSModel", "Policy", "SPF", "CPosternSys", "Scanning",
            "MailStore", "IMAPServer", "POP3Core", "POP3Server", "DKIM",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "postern", dependencies: [
            "PosternDaemon", "MailQueue", "MailMessage", "DNS", "DNSModel", "SPF", "Policy", "SMTPServer", "SMTPCore", "Scanning", "DKIM",
            "MTASTS", "Delivery",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // libFuzzer targets, one per parser; see README "Fuzzing". A normal build
        // replays corpus files. Each dependency is here for the parser it holds:
        // SMTPCore (SMTP), MailMessage (MIME), Policy (header writing), PosternDaemon
        // (TOML and the loaders), SPF, DNS + CLDNS (ldns wire reading), Delivery
        // (reply parser), MailQueue (envelope codec), Scanning (scanner
        // replies), IMAPCore (IMAP), POP3Core (POP3),
        // ProxyProtocol (load balancer headers), DKIM (signature fields, key records),
        // DMARC (records, From, A-R). SPF, DNS, Policy and Scanning are
        // imported @testable: debug builds only.
        .executableTarget(name: "PosternFuzzer", dependencies: [
            "SMTPCore", "MailMessage", "Policy", "PosternDaemon", "SPF", "DNS", "CLDNS", "DNSModel", "Delivery",
            "MailQueue", "Scanning", "IMAPCore", "POP3Core", "ProxyProtocol", "DKIM", "DMARC", "MTASTS",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "SMTPCoreTests", dependencies: ["SMTPCore"]),
        .testTarget(name: "ProxyProtocolTests", dependencies: ["ProxyProtocol", "DNSModel", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "IMAPCoreTests", dependencies: ["IMAPCore", "MailMessage", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "POP3CoreTests", dependencies: ["POP3Core", "IMAPCore", "SMTPCore", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "POP3ServerTests", dependencies: [
            "POP3Server", "POP3Core", "MailStore", "SMTPServer", .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "MailMessageTests", dependencies: [
            "MailMessage", .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "IMAPServerTests", dependencies: [
            "IMAPServer", "IMAPCore", "MailStore", "SMTPServer", .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "MailStoreTests", dependencies: ["MailStore", "MailQueue", "Policy"]),
        .testTarget(name: "MailQueueTests", dependencies: ["MailQueue", "MailMessage", "SMTPCore", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "SMTPServerTests", dependencies: [
            "SMTPServer", "Policy", "DNSModel", "ProxyProtocol", .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "PosternDaemonTests", dependencies: [
            "PosternDaemon", "DKIM", .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .testTarget(name: "DKIMTests", dependencies: ["DKIM", "DNSModel", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "SPFTests", dependencies: ["SPF", "DNSModel"]),
        .testTarget(name: "DMARCTests", dependencies: ["DMARC", "DNSModel", "MailMessage"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "SPF", "DNSModel", "SMTPCore", "MailMessage"]),
        .testTarget(name: "DNSTests", dependencies: ["DNS", "DNSModel"]),
        .testTarget(name: "ScanningTests", dependencies: [
            "Scanning", "CClamAV", "Policy", "MailMessage", .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "MTASTSTests", dependencies: ["MTASTS", "DNSModel", .product(name: "NIOPosix", package: "swift-nio")]),
        .testTarget(name: "DeliveryTests", dependencies: [
            "Delivery", "DNSModel", .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
    ]
)

// Release builds of Postern's own modules leave memory exclusivity to the
// compiler's static checks and the debug builds every test runs: the dynamic
// check on each class-property access (a thread-local access set) was about
// a tenth of the instructions per relayed message (issue #15, bench/README).
// `make release` passes the same flag for the dependencies.
for target in package.targets where target.type == .regular || target.type == .executable {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    ]
}
