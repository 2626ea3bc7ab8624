import DKIM
import Testing

@Suite struct TagListTests {
    private func parse(_ text: String) -> DKIMTagList? { try? DKIMTagList(parsing: Array(text.utf8)) }

    @Test func valuesAreTrimmedAndCaseSensitive() {
        let list = parse(" v = 1 ;\r\n\ta=rsa-sha256;  D=x; d= ex ample ;")
        #expect(list?["v"] == "1")
        #expect(list?["d"] == "ex ample")
        #expect(list?["D"] == "x")
        #expect(list?.tags.count == 4)
    }

    @Test func emptyValueIsAllowed() {
        #expect(parse("p=")?["p"] == "")
        #expect(parse("a=1; p=; ")?["p"] == "")
    }

    @Test(arguments: [
        "", ";", "a=1;;b=2", "a", "=1", "1a=2", "a-b=1", "a=1; a=2", "a=x;y", "a=b\u{7F}", "a=\u{e9}",
        "a=x\r\ny", "a=x\ny", "a=x\ry", "a=semi=colon;b",
    ])
    func invalidListsAreRefused(text: String) {
        #expect(parse(text) == nil)
    }

    @Test func equalsSignInsideAValueIsKept() {
        #expect(parse("b=abc==; bh=x=")?["b"] == "abc==")
    }

    @Test func keyRecordVariants() throws {
        let rsa = try DKIMKeyRecord(parsing: Array("v=DKIM1; p=AAAA".utf8))
        #expect(rsa.keyType == .rsa && rsa.publicKey == [0, 0, 0])
        let ed = try DKIMKeyRecord(parsing: Array("k=ed25519; t=y:s; h=sha256; p=AA AA".utf8))
        #expect(ed.keyType == .ed25519 && ed.testing && ed.strictIdentity && ed.hashAlgorithms == ["sha256"])
        #expect(try DKIMKeyRecord(parsing: Array("v=DKIM1; k=rsa; p=".utf8)).isRevoked)
        for bad in ["k=rsa; v=DKIM1; p=AAAA", "v=DKIM2; p=AAAA", "k=dsa; p=AAAA", "v=DKIM1", "p=!!!!", "s=tlsrpt; p=AAAA"] {
            #expect(throws: DKIMError.self) { try DKIMKeyRecord(parsing: Array(bad.utf8)) }
        }
    }

    @Test func keyRecordRendersAndReadsBack() throws {
        let record = DKIMKeyRecord(keyType: .ed25519, publicKey: Array(repeating: 7, count: 32), testing: true)
        #expect(try DKIMKeyRecord(parsing: Array(record.rendered.utf8)) == record)
    }

    @Test func signatureFieldRequiresItsTags() {
        let good = "v=1; a=rsa-sha256; d=Example.COM; s=s1; h=From:To; bh=AAAA; b=AA AA"
        let field = try? DKIMSignatureField(parsing: Array(good.utf8))
        #expect(field?.domain == "example.com")
        #expect(field?.headerCanonicalization == .simple && field?.bodyCanonicalization == .simple)
        #expect(field?.identityDomain == "example.com")
        let variants = [
            good.replacingOccurrences(of: "v=1", with: "v=2"),
            good.replacingOccurrences(of: "a=rsa-sha256", with: "a=rsa-sha1"),
            good.replacingOccurrences(of: "h=From:To", with: "h=To"),
            good.replacingOccurrences(of: "h=From:To", with: "h=From::To"),
            good.replacingOccurrences(of: "; s=s1", with: ""),
            good + "; i=joe@other.example",
            good + "; c=relaxed/loose",
            good + "; l=-1",
            good + "; t=20; x=10",
            good + "; q=dns/xyz",
        ]
        for text in variants {
            #expect(throws: DKIMError.self) { try DKIMSignatureField(parsing: Array(text.utf8)) }
        }
        let relaxed = try? DKIMSignatureField(parsing: Array((good + "; c=relaxed; i=@sub.example.com").utf8))
        #expect(relaxed?.headerCanonicalization == .relaxed && relaxed?.bodyCanonicalization == .simple)
        #expect(relaxed?.identityDomain == "sub.example.com")
    }
}
