import Testing

@testable import DMARC

/// Record syntax (RFC 7489 §6.3, §6.4, §6.6.3 step 6; RFC 9091 np).
struct RecordTests {
    @Test func everyTag() throws {
        let record = try DMARCRecord(parsing:
            "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=s; pct=25; "
                + "rua=mailto:agg@example.com!10m, mailto:b@example.org; ruf=mailto:f@example.com; fo=1; ri=86400")
        #expect(record.policy == .reject)
        #expect(record.subdomainPolicy == .quarantine)
        #expect(record.nonexistentPolicy == .reject)
        #expect(record.dkimAlignment == .strict)
        #expect(record.spfAlignment == .strict)
        #expect(record.percent == 25)
        #expect(record.aggregateReportURIs == ["mailto:agg@example.com!10m", "mailto:b@example.org"])
        #expect(record.failureReportURIs == ["mailto:f@example.com"])
    }

    @Test func defaults() throws {
        let record = try DMARCRecord(parsing: "v=DMARC1;p=none")
        #expect(record == DMARCRecord(policy: .none))
        #expect(record.subdomainPolicy == nil && record.percent == 100 && record.dkimAlignment == .relaxed)
    }

    @Test(arguments: [
        ("v=DMARC1; p=Quarantine", DMARCRecord.Policy.quarantine),
        ("  v = DMARC1 ;\tp = reject ; ", .reject),
        ("v=DMARC1; p=reject; p=none", .reject),            // first of a repeated tag
        ("v=DMARC1; rua=mailto:a@example.com", .none),      // no p, usable rua: as p=none
        ("v=DMARC1; p=bogus; rua=mailto:a@example.com", .none),
    ])
    func policyTag(text: String, policy: DMARCRecord.Policy) throws {
        #expect(try DMARCRecord(parsing: text).policy == policy)
    }

    @Test(arguments: [
        ("v=DMARC1; p=none; pct=101", 100), ("v=DMARC1; p=none; pct=-1", 100), ("v=DMARC1; p=none; pct=0", 0),
        ("v=DMARC1; p=none; pct=abc", 100), ("v=DMARC1; p=none; pct=0050", 100), ("v=DMARC1; p=none; pct=50", 50),
    ])
    func percent(text: String, percent: Int) throws {
        #expect(try DMARCRecord(parsing: text).percent == percent)
    }

    @Test func badOptionalValuesFallBack() throws {
        let record = try DMARCRecord(parsing: "v=DMARC1; p=reject; adkim=x; aspf=; np=maybe; rua=not a uri; foo=bar")
        #expect(record.dkimAlignment == .relaxed && record.spfAlignment == .relaxed)
        #expect(record.nonexistentPolicy == nil && record.aggregateReportURIs.isEmpty)
    }

    @Test(arguments: ["", "p=reject; v=DMARC1", "v=DMARC2; p=reject", "v=dmarc1; p=reject", "v=spf1 -all", "v=DMARC1p=reject"])
    func notDMARC(text: String) {
        #expect(throws: DMARCRecordError.notDMARC) { try DMARCRecord(parsing: text) }
    }

    @Test(arguments: ["v=DMARC1", "v=DMARC1; p=maybe", "v=DMARC1; p=reject; sp=bad", "v=DMARC1; p=; rua=junk"])
    func invalidPolicy(text: String) {
        #expect(throws: DMARCRecordError.self) { try DMARCRecord(parsing: text) }
        #expect((try? DMARCRecord(parsing: text)) == nil)
    }
}
