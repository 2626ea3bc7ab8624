import DKIM
import Foundation
import Testing

/// The examples published with the RFCs, verified as published.
@Suite struct RFCExampleTests {
    /// RFC 8463 Appendix A.3: one message signed with Ed25519 and RSA.
    static let rfc8463Message = """
        DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;
         d=football.example.com; i=@football.example.com;
         q=dns/txt; s=brisbane; t=1528637909; h=from : to :
         subject : date : message-id : from : subject : date;
         bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
         b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus
         Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==
        DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
         d=football.example.com; i=@football.example.com;
         q=dns/txt; s=test; t=1528637909; h=from : to : subject :
         date : message-id : from : subject : date;
         bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
         b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3
         DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz
         dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=
        From: Joe SixPack <joe@football.example.com>
        To: Suzie Q <suzie@shopping.example.net>
        Subject: Is dinner ready?
        Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)
        Message-ID: <20030712040037.46341.5F8J@football.example.com>

        Hi.

        We lost the game.  Are you hungry yet?

        Joe.

        """

    /// RFC 8463 Appendix A.2, the RSA record as its two strings.
    static let rfc8463Zone = TXTZone(records: [
        "brisbane._domainkey.football.example.com": ["v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="],
        "test._domainkey.football.example.com": [
            "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB",
        ],
    ])

    /// RFC 6376 Appendix A.2 with the RFC's 3-space page margin removed
    /// (continuation lines keep their 6 spaces), key from Appendix C.
    static let rfc6376Message = """
        DKIM-Signature: v=1; a=rsa-sha256; s=brisbane; d=example.com;
              c=simple/simple; q=dns/txt; i=joe@football.example.com;
              h=Received : From : To : Subject : Date : Message-ID;
              bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
              b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB
              4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut
              KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV
              4bmp/YzhwvcubU4=;
        Received: from client1.football.example.com  [192.0.2.1]
              by submitserver.example.com with SUBMISSION;
              Fri, 11 Jul 2003 21:01:54 -0700 (PDT)
        From: Joe SixPack <joe@football.example.com>
        To: Suzie Q <suzie@shopping.example.net>
        Subject: Is dinner ready?
        Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)
        Message-ID: <20030712040037.46341.5F8J@football.example.com>

        Hi.

        We lost the game. Are you hungry yet?

        Joe.

        """

    static let rfc6376Zone = TXTZone(records: [
        "brisbane._domainkey.example.com": [
            "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB",
        ],
    ])

    @Test func rfc8463BothSignaturesPass() async {
        let results = await DKIMVerifier(resolver: Self.rfc8463Zone).verify(message: Self.rfc8463Message.crlf)
        #expect(results.map(\.result) == [.pass, .pass])
        #expect(results.map(\.algorithm) == [.ed25519SHA256, .rsaSHA256])
        #expect(results[0].domain == "football.example.com")
        #expect(results[0].selector == "brisbane")
        #expect(results[0].properties == "header.d=football.example.com header.s=brisbane header.b=\"/gCrinpc\"")
    }

    /// Fed one octet at a time, the streamed hashes give the same answer.
    @Test func rfc8463VerifiesWhenFedByteByByte() async {
        let verifier = DKIMVerifier(resolver: Self.rfc8463Zone)
        var verification = verifier.begin()
        for byte in Self.rfc8463Message.crlf { try? verification.update([byte]) }
        let results = await verifier.finish(verification)
        #expect(results.map(\.result) == [.pass, .pass])
    }

    @Test func rfc8463AlteredSubjectFailsBoth() async {
        let altered = Self.rfc8463Message.replacingOccurrences(of: "Is dinner ready?", with: "Is dinner burnt?")
        let results = await DKIMVerifier(resolver: Self.rfc8463Zone).verify(message: altered.crlf)
        #expect(results.map(\.result) == [.fail("signature did not verify"), .fail("signature did not verify")])
    }

    @Test func rfc8463AlteredBodyFailsBodyHash() async {
        let altered = Self.rfc8463Message.replacingOccurrences(of: "hungry", with: "thirsty")
        let results = await DKIMVerifier(resolver: Self.rfc8463Zone).verify(message: altered.crlf)
        #expect(results.map(\.result) == [.fail("body hash did not verify"), .fail("body hash did not verify")])
    }

    @Test func rfc6376AppendixAPasses() async {
        let results = await DKIMVerifier(resolver: Self.rfc6376Zone).verify(message: Self.rfc6376Message.crlf)
        #expect(results.map(\.result) == [.pass])
        #expect(results.first?.identityDomain == "football.example.com")
    }

    /// simple/simple: one more space in a folded Received line breaks it.
    @Test func rfc6376SimpleHeaderIsExact() async {
        let altered = Self.rfc6376Message.replacingOccurrences(of: "with SUBMISSION;", with: "with  SUBMISSION;")
        let results = await DKIMVerifier(resolver: Self.rfc6376Zone).verify(message: altered.crlf)
        #expect(results.map(\.result) == [.fail("signature did not verify")])
    }

    @Test func rfc8463KeyOutcomes() async {
        var zone = Self.rfc8463Zone
        zone.records["brisbane._domainkey.football.example.com"] = ["v=DKIM1; k=ed25519; p="]
        zone.records["test._domainkey.football.example.com"] = nil
        var results = await DKIMVerifier(resolver: zone).verify(message: Self.rfc8463Message.crlf)
        #expect(results.map(\.result) == [.permerror("key revoked"), .permerror("no key for selector test")])
        zone.failing = ["test._domainkey.football.example.com"]
        zone.records["brisbane._domainkey.football.example.com"] = ["v=DKIM1; k=rsa; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="]
        results = await DKIMVerifier(resolver: zone).verify(message: Self.rfc8463Message.crlf)
        #expect(results.map(\.result.keyword) == ["permerror", "temperror"])
    }
}
