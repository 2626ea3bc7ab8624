import Logging
import Testing
@testable import PosternDaemon

/// The log line as bytes: the same text the string-built line had.
@Suite("logfmt lines")
struct LogfmtHandlerTests {
    @Test(arguments: [
        ("queued", "queued"),
        ("", "\"\""),
        ("two words", "\"two words\""),
        ("a=b", "\"a=b\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("back\\slash", "back\\slash"),
        ("back\\slash and space", "\"back\\\\slash and space\""),
        ("line\r\nbreak", "\"line\\r\\nbreak\""),
        ("nul\u{0}del\u{7F}tab\t", "\"nul\\x0del\\x7ftab\\x9\""),
        ("ünïcødé", "ünïcødé"),
        ("ü é", "\"ü é\""),
    ])
    func values(_ raw: String, _ expected: String) {
        #expect(PosternLogHandler.logfmtValue(raw) == expected)
    }

    @Test func eventMetadataOverridesTheHandlersAndKeysAreSorted() {
        let metadata = PosternLogHandler.sortedMetadata(["client": "192.0.2.1", "user": "old"],
                                                        ["user": "alice", "id": "A1", "size": .stringConvertible(4096)])
        let line = PosternLogHandler.logfmtLine(timestamp: Array("2026-12-07T01:02:03.004Z".utf8), level: .info,
                                                message: "queued", metadata: metadata)
        #expect(String(decoding: line, as: UTF8.self)
            == "ts=2026-12-07T01:02:03.004Z level=info msg=queued client=192.0.2.1 id=A1 size=4096 user=alice\n")
        let bare = PosternLogHandler.logfmtLine(timestamp: Array("t".utf8), level: .notice, message: "policy refused",
                                                metadata: PosternLogHandler.sortedMetadata([:], nil))
        #expect(String(decoding: bare, as: UTF8.self) == "ts=t level=notice msg=\"policy refused\"\n")
    }

    /// The cached date part follows the clock from one second to the next.
    @Test func timestampsAreRFC3339InUTC() {
        #expect(String(decoding: LogTimestamp.format(seconds: 1_796_605_323, milliseconds: 4), as: UTF8.self)
            == "2026-12-07T01:02:03.004Z")
        #expect(String(decoding: LogTimestamp.format(seconds: 1_796_605_323, milliseconds: 999), as: UTF8.self)
            == "2026-12-07T01:02:03.999Z")
        #expect(String(decoding: LogTimestamp.format(seconds: 1_796_605_324, milliseconds: 0), as: UTF8.self)
            == "2026-12-07T01:02:04.000Z")
        #expect(String(decoding: LogTimestamp.format(seconds: 0, milliseconds: 10), as: UTF8.self)
            == "1970-01-01T00:00:00.010Z")
    }
}
