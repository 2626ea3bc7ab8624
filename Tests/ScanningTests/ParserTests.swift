import NIOHTTP1
import Testing
@testable import Scanning

@Suite struct ClamdReplyTests {
    @Test(arguments: [
        ("stream: OK\0", ScanVerdict.clean),
        ("stream: Test.EICAR.NDB.UNOFFICIAL FOUND\0", .infected(name: "Test.EICAR.NDB.UNOFFICIAL")),
        ("stream: Eicar-Signature FOUND\n", .infected(name: "Eicar-Signature")),
        ("INSTREAM size limit exceeded. ERROR\0", .tooLarge("clamd StreamMaxLength exceeded")),
        ("stream: Can't allocate memory ERROR\0", .error("clamd: stream: Can't allocate memory ERROR")),
        ("", .error("clamd closed the connection without an answer")),
        ("stream:  FOUND\0", .error("clamd: stream:  FOUND")),
    ])
    func verdicts(reply: String, expected: ScanVerdict) {
        #expect(ClamdScanner.verdict(reply: Array(reply.utf8)) == expected)
    }
}

@Suite struct SpamdReplyTests {
    @Test func spam() {
        let reply = "SPAMD/1.1 0 EX_OK\r\nContent-length: 43\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,NO_RECEIVED,NO_RELAYS,TVD_SPACE_RATIO"
        guard case .scored(let report) = SpamdScanner.verdict(reply: Array(reply.utf8)) else { Issue.record("not scored"); return }
        #expect(report.isSpam && report.score == 1000 && report.threshold == 5)
        #expect(report.symbols == ["GTUBE", "NO_RECEIVED", "NO_RELAYS", "TVD_SPACE_RATIO"])
    }

    @Test func ham() {
        let reply = "SPAMD/1.1 0 EX_OK\r\nContent-length: 10\r\nSpam: False ; -0.3 / 5.0\r\n\r\nMISSING_ID"
        guard case .scored(let report) = SpamdScanner.verdict(reply: Array(reply.utf8)) else { Issue.record("not scored"); return }
        #expect(!report.isSpam && report.score == -0.3 && report.action == .noAction)
    }

    /// Found by the fuzzer: whatever spamd sends as symbols ends up in
    /// X-Spam-Status, so only identifier-like names are kept.
    @Test func symbolsWithControlsAreDropped() {
        let reply = "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 6.0 / 5.0\r\n\r\nGTUBE,BAD\u{0}NAME,OK_2,X\u{7F}Y,\u{00E9}t\u{00E9}"
        guard case .scored(let report) = SpamdScanner.verdict(reply: Array(reply.utf8)) else { Issue.record("not scored"); return }
        #expect(report.symbols == ["GTUBE", "OK_2"])
    }

    @Test(arguments: ["", "SPAMD/1.0 76 Bad header line: FOO SPAMC/1.5\r\n", "SPAMD/1.1 0 EX_OK\r\n\r\n",
                      "SPAMD/1.1 0 EX_OK\r\nSpam: maybe ; 1 / 2\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"])
    func errors(reply: String) {
        guard case .error = SpamdScanner.verdict(reply: Array(reply.utf8)) else { Issue.record("\(reply) not an error"); return }
    }
}

@Suite struct RspamdReplyTests {
    @Test func gtube() {
        let json = #"{"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0.0}},"messages":{"smtp_message":"Gtube pattern"}}"#
        guard case .scored(let report) = RspamdScanner.verdict(json: Array(json.utf8)) else { Issue.record("not scored"); return }
        #expect(report.action == .reject && report.isSpam && report.score == 15 && report.symbols == ["GTUBE"])
    }

    @Test func milterHeaders() {
        let json = #"{"score":6.5,"required_score":15,"action":"add header","symbols":{"B":{},"A":{}},"milter":{"add_headers":{"X-Spam":"Yes","X-Two":[{"value":"1","order":0},"2"]},"remove_headers":{"X-Spam":0}}}"#
        guard case .scored(let report) = RspamdScanner.verdict(json: Array(json.utf8)) else { Issue.record("not scored"); return }
        #expect(report.symbols == ["A", "B"] && report.removeHeaders == ["X-Spam"])
        #expect(report.addHeaders.map { "\($0.name)=\($0.value)" } == ["X-Spam=Yes", "X-Two=1", "X-Two=2"])
    }

    @Test(arguments: ["", "[]", #"{"error":"bad request"}"#, #"{"score":1}"#, #"{"score":1,"required_score":2,"action":"explode"}"#])
    func errors(json: String) {
        guard case .error = RspamdScanner.verdict(json: Array(json.utf8)) else { Issue.record("\(json) not an error"); return }
    }
}

@Suite struct AddressTests {
    @Test func forms() {
        #expect(ScannerAddress("/run/clamav/clamd.ctl") == .unix(path: "/run/clamav/clamd.ctl"))
        #expect(ScannerAddress("127.0.0.1:3310") == .tcp(host: "127.0.0.1", port: 3310))
        #expect(ScannerAddress("[::1]:783") == .tcp(host: "::1", port: 783))
        #expect(ScannerAddress("localhost") == nil && ScannerAddress("h:0") == nil && ScannerAddress(":1") == nil)
    }
}

@Suite struct RspamdRequestTests {
    @Test func envelopeGoesIntoRequestHeaders() {
        let scanner = RspamdScanner(address: .tcp(host: "127.0.0.1", port: 11333), timeout: 5)
        let request = ScanRequest(message: MessageSource(bytes: Array("x".utf8)), clientIP: "192.0.2.7", helo: "mx.example",
                                  sender: "a@example.org", recipients: ["b@example.net", "c@example.net"], queueID: "0006ABC",
                                  user: "alice", hostname: "relay.test")
        let head = scanner.requestHead(request, path: "/checkv2", length: 1)
        #expect(head.method == .POST && head.uri == "/checkv2")
        #expect(head.headers["IP"] == ["192.0.2.7"] && head.headers["Helo"] == ["mx.example"])
        #expect(head.headers["From"] == ["a@example.org"] && head.headers["Rcpt"] == ["b@example.net", "c@example.net"])
        #expect(head.headers["Queue-Id"] == ["0006ABC"] && head.headers["User"] == ["alice"])
        #expect(head.headers["Hostname"] == ["relay.test"] && head.headers["Content-Length"] == ["1"])
        #expect(head.headers["Connection"] == ["close"])
    }

    @Test func valuesThatCouldSplitTheRequestAreLeftOut() {
        let scanner = RspamdScanner(address: .tcp(host: "127.0.0.1", port: 11333), timeout: 5)
        let request = ScanRequest(message: MessageSource(bytes: []), helo: "evil\r\nX-Injected: 1", sender: "")
        let head = scanner.requestHead(request, path: "/checkv2", length: 0)
        #expect(head.headers["Helo"].isEmpty && head.headers["X-Injected"].isEmpty)
        #expect(head.headers["From"].isEmpty, "the null sender sends no From")
    }
}
