@testable import DKIM
import Foundation
import Testing

@Suite struct SignerTests {
    static let message = """
        Received: from a by b; Mon, 7 Dec 2026 01:00:00 +0000
        From: Alice <alice@example.org>
        To: bob@example.net
        Subject:   Hello   there
        Date: Mon, 7 Dec 2026 01:00:00 +0000
        Message-ID: <1@example.org>

        Body line one.\t
        Body line two.


        """

    static func zone(_ key: DKIMSigningKey) -> TXTZone {
        TXTZone(records: ["s1._domainkey.example.org": [key.publicKeyRecord.rendered]])
    }

    @Test(arguments: [DKIMKeyType.ed25519, .rsa])
    func signedMessageVerifies(type: DKIMKeyType) async throws {
        let key = try DKIMSigningKey.generate(type)
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: key, expiry: 3600)
        let field = try signer.sign(message: Self.message.crlf, now: Date(timeIntervalSince1970: 1_800_000_000))
        let parsed = try DKIMSignatureField(parsing: DKIMHeaderField(bytes: Array(field.utf8))!.value)
        #expect(parsed.algorithm == key.algorithm && parsed.domain == "example.org" && parsed.selector == "s1")
        #expect(parsed.headerCanonicalization == .relaxed && parsed.bodyCanonicalization == .relaxed)
        #expect(parsed.timestamp == 1_800_000_000 && parsed.expiration == 1_800_003_600)
        #expect(field.split(separator: "\r\n").allSatisfy { $0.utf8.count <= DKIMSignatureField.lineLength })
        let signed = Array(field.utf8) + Self.message.crlf
        let verifier = DKIMVerifier(resolver: Self.zone(key))
        let results = await verifier.verify(message: signed, now: Date(timeIntervalSince1970: 1_800_000_100))
        #expect(results.map(\.result) == [.pass])
        // The signature is timed: after x= it no longer counts.
        let late = await verifier.verify(message: signed, now: Date(timeIntervalSince1970: 1_800_009_000))
        #expect(late.map(\.result) == [.permerror("signature expired")])
    }

    @Test func signedNamesOverSignFrom() throws {
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: try .generate(.ed25519))
        let fields = DKIMHeaderField.fields(in: Self.message.crlf)
        #expect(signer.signedNames(for: fields) == ["From", "To", "Subject", "Date", "Message-ID", "From"])
    }

    /// Relaxed canonicalisation survives refolding and white space changes
    /// in the header; a second From added on top breaks it (over-signing).
    @Test func relaxedSurvivesRefoldingButNotAnAddedFrom() async throws {
        let key = try DKIMSigningKey.generate(.ed25519)
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: key)
        let field = try signer.sign(message: Self.message.crlf)
        let verifier = DKIMVerifier(resolver: Self.zone(key))
        let refolded = Self.message.replacingOccurrences(of: "Subject:   Hello   there", with: "Subject: Hello\n\tthere")
        #expect(await verifier.verify(message: Array(field.utf8) + refolded.crlf).map(\.result) == [.pass])
        let added = "From: Mallory <m@example.org>\n" + Self.message
        #expect(await verifier.verify(message: Array(field.utf8) + added.crlf).map(\.result)
            == [.fail("signature did not verify")])
        let trailing = Self.message + "\n\n"
        #expect(await verifier.verify(message: Array(field.utf8) + trailing.crlf).map(\.result) == [.pass])
        let appended = Self.message + "P.S.\n"
        #expect(await verifier.verify(message: Array(field.utf8) + appended.crlf).map(\.result)
            == [.fail("body hash did not verify")])
    }

    @Test func messageWithoutFromIsNotSigned() throws {
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: try .generate(.ed25519))
        #expect(throws: DKIMError.self) { try signer.sign(message: "To: x@y\n\nhi\n".crlf) }
    }

    @Test(arguments: [DKIMKeyType.ed25519, .rsa])
    func keyFileRoundTrip(type: DKIMKeyType) throws {
        let key = try DKIMSigningKey.generate(type)
        let read = try DKIMSigningKey(pem: key.pemRepresentation)
        #expect(read.publicKeyRecord == key.publicKeyRecord)
    }

    /// dkimpy's Ed25519 key files hold the bare base64 seed; RFC 8463 A.1's.
    @Test func bareEd25519SeedIsRead() throws {
        let key = try DKIMSigningKey(pem: "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n")
        #expect(key.publicKeyRecord.rendered == "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
        #expect(throws: DKIMError.self) { try DKIMSigningKey(pem: "not a key") }
    }

    /// l= signs a prefix: text appended after it does not break the signature.
    @Test func lengthTagIsHonouredWhenVerifying() async throws {
        let key = try DKIMSigningKey.generate(.ed25519)
        var fieldTags = DKIMSignatureField(algorithm: .ed25519SHA256, domain: "example.org", selector: "s1",
                                           signedHeaders: ["From"])
        var hasher = DKIMBodyHasher(canonicalization: .relaxed, limit: 6)
        hasher.update(Array("Hello\r\n".utf8))
        fieldTags.bodyHash = hasher.finalize()
        fieldTags.bodyLength = 6
        let head = DKIMHeaderField.fields(in: Array("From: a@example.org\r\n".utf8))
        let unsigned = DKIMHeaderField(bytes: Array(fieldTags.rendered.utf8))!
        fieldTags.signature = try key.sign(digest: DKIMHeaderHash.digest(signed: ["From"], fields: head, signatureField: unsigned,
                                                                          canonicalization: .relaxed))
        let verifier = DKIMVerifier(resolver: Self.zone(key))
        let message = fieldTags.rendered + "From: a@example.org\r\n\r\nHello\r\nappended\r\n"
        #expect(await verifier.verify(message: Array(message.utf8)).map(\.result) == [.pass])
        let short = fieldTags.rendered + "From: a@example.org\r\n\r\nHel"
        #expect(await verifier.verify(message: Array(short.utf8)).map(\.result) == [.fail("l= is longer than the body")])
    }

    @Test(arguments: [
        ("Alice <alice@Example.ORG>", "example.org"),
        (" bob@news.example.org (Bob)", "news.example.org"),
        ("\"a@evil.example\" <c@example.org>", "example.org"),
        ("=?utf-8?q?x?= <d@example.org>\r\n", "example.org"),
        ("a@example.org, b@example.net", nil),
        ("undisclosed", nil),
        ("<@example.org>", nil),
    ] as [(String, String?)])
    func fromDomain(value: String, domain: String?) {
        #expect(DKIMSigningTable.addressDomain(value) == domain)
    }

    @Test func tablePicksExactThenParentWithSubdomains() throws {
        let key = try DKIMSigningKey.generate(.ed25519)
        let table = DKIMSigningTable(entries: [
            .init(signer: DKIMSigner(domain: "example.org", selector: "a", key: key), subdomains: false),
            .init(signer: DKIMSigner(domain: "example.com", selector: "b", key: key), subdomains: true),
            .init(signer: DKIMSigner(domain: "news.example.com", selector: "c", key: key), subdomains: true),
        ])
        #expect(table.signer(for: "example.org")?.selector == "a")
        #expect(table.signer(for: "sub.example.org") == nil)
        #expect(table.signer(for: "x.example.com")?.selector == "b")
        #expect(table.signer(for: "x.news.example.com")?.selector == "c")
        #expect(table.signer(for: "badexample.com") == nil)
        var signing = table.begin()
        try signing.update(Self.message.crlf)
        #expect(try signing.finish() != nil && signing.signer?.selector == "a")
    }
}
