import Testing
@testable import MTASTS

/// RFC 8461 §3.1: the `_mta-sts` TXT record.
struct MTASTSRecordTests {
    @Test(arguments: [
        ("v=STSv1; id=20160831085700Z;", "20160831085700Z"),
        ("v=STSv1; id=abc", "abc"),
        ("v=STSv1;id=abc", "abc"),
        ("v=STSv1 ;  id=abc ; ", "abc"),
        ("v=STSv1; id=abc; ext_1=value", "abc"),
        ("v=STSv1; id=12345678901234567890123456789012", "12345678901234567890123456789012"),
    ])
    func parses(text: String, id: String) throws {
        #expect(try MTASTSRecord.parse(text).id == id)
    }

    @Test(arguments: [
        "v=STSv1",                 // no id
        "v=STSv1;",                // no id
        "v=STSv2; id=abc",         // wrong version
        "id=abc; v=STSv1",         // version not first
        "v=STSv1; id=",            // empty id
        "v=STSv1; id=ab-c",        // id: letters and digits only
        "v=STSv1; id=123456789012345678901234567890123", // 33 characters
        "v=STSv1; id=a; id=b",     // twice
        "v=STSv1; id=a; bogus",    // no '='
        "v=STSv1; id=a; -x=1",     // extension name must start alphanumeric
        "v=STSv1; id=a; x=",       // empty extension value
    ])
    func refuses(text: String) {
        #expect(throws: MTASTSRecordError.self) { try MTASTSRecord.parse(text) }
    }

    @Test func selectDiscardsOtherRecords() throws {
        let record = try MTASTSRecord.select(["v=spf1 -all", "v=STSv1; id=x1", "hello"])
        #expect(record.id == "x1")
    }

    @Test func selectWantsExactlyOne() {
        #expect(throws: MTASTSRecordError.noRecord) { try MTASTSRecord.select(["v=spf1 -all"]) }
        #expect(throws: MTASTSRecordError.multipleRecords(2)) { try MTASTSRecord.select(["v=STSv1; id=a", "v=STSv1; id=b"]) }
    }
}
