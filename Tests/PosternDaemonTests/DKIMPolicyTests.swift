import DKIM
import Foundation
import Policy
import Testing
@testable import PosternDaemon

/// `[[dkim.sign]]`: keys read at load, mistakes named with their line.
@Suite("DKIM policy")
struct DKIMPolicyTests {
    @Test func signEntriesLoadTheirKeys() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dkim-policy-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try DKIMSigningKey.generate(.ed25519)
        try key.pemRepresentation.write(to: directory.appendingPathComponent("ed.key"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("policy.toml").path
        let policy = try PolicyLoader.load(text: """
            [[dkim.sign]]
            domain = "Example.ORG"
            selector = "s1"
            key = "ed.key"
            subdomains = true
            expire = "7d"
            """, file: file)
        #expect(policy.dkimSign.count == 1)
        let rule = try #require(policy.dkimSign.first)
        #expect(rule.domain == "example.org" && rule.selector == "s1" && rule.subdomains && rule.expirySeconds == 604_800)
        #expect(rule.keyPath == directory.appendingPathComponent("ed.key").path)
        let table = try #require(DKIMPolicyNames.signingTable(policy.dkimSign))
        #expect(table.signer(for: "news.example.org")?.selector == "s1")
    }

    @Test func mistakesAreNamed() {
        let issues = PolicyLoaderTests.issues("""
            [[dkim.sign]]
            domain = "example..org"
            selector = "s 1"
            key = "/nonexistent/key.pem"
            color = "blue"

            [[dkim.sign]]
            selector = "s2"
            """)
        #expect(issues.contains { $0.contains(":2: dkim.sign.domain: must be a domain name") })
        #expect(issues.contains { $0.contains(":3: dkim.sign.selector: must be one or more DNS labels") })
        #expect(issues.contains { $0.contains(":4: dkim.sign.key: /nonexistent/key.pem: private key: cannot read the file") })
        #expect(issues.contains { $0.contains(":5: dkim.sign.color: unknown key") })
        #expect(issues.contains { $0.contains("dkim.sign.domain is required") && $0.contains(":7:") })
    }
}
