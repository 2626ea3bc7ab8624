import Foundation

/// Messages for the libclamav tests. EICAR is read back from the test
/// signature (tests/fixtures/clamav/test.ndb) so the repository holds it
/// only as hex.
enum ClamAVFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let database = root.appendingPathComponent("tests/fixtures/clamav").path
    static let detection = "Test.EICAR.NDB.UNOFFICIAL"

    static let eicar: [UInt8] = {
        let line = try! String(contentsOfFile: database + "/test.ndb", encoding: .utf8)
        return bytes(hex: String(line.split(separator: ":")[3].prefix { $0.isHexDigit }))
    }()

    static func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// A multipart message with one base64 attachment.
    static func message(attaching data: [UInt8], name: String = "file.bin", type: String = "application/octet-stream",
                        text: String = "See the attachment.") -> [UInt8] {
        let encoded = Data(data).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn,
                                                                .endLineWithLineFeed])
        return Array("""
            From: a@example.test\r
            To: b@example.test\r
            Subject: attachment\r
            MIME-Version: 1.0\r
            Content-Type: multipart/mixed; boundary="b1"\r
            \r
            --b1\r
            Content-Type: text/plain\r
            \r
            \(text)\r
            --b1\r
            Content-Type: \(type); name="\(name)"\r
            Content-Disposition: attachment; filename="\(name)"\r
            Content-Transfer-Encoding: base64\r
            \r
            \(encoded)\r
            --b1--\r

            """.utf8)
    }

    static func plain(_ text: String) -> [UInt8] {
        Array("From: a@example.test\r\nTo: b@example.test\r\nSubject: hello\r\n\r\n\(text)\r\n".utf8)
    }

    /// `inner` forwarded as a message/rfc822 part.
    static func forwarding(_ inner: [UInt8]) -> [UInt8] {
        Array("""
            From: c@example.test\r
            To: d@example.test\r
            Subject: Fwd: attachment\r
            MIME-Version: 1.0\r
            Content-Type: multipart/mixed; boundary="outer"\r
            \r
            --outer\r
            Content-Type: text/plain\r
            \r
            Forwarded.\r
            --outer\r
            Content-Type: message/rfc822\r
            \r

            """.utf8) + inner + Array("\r\n--outer--\r\n".utf8)
    }

    /// A zip holding one file, made by Python's zipfile.
    static func zip(name: String, contents: [UInt8]) throws -> [UInt8] {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/out.zip"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(sys.argv[2], bytes.fromhex(sys.argv[3]))
            """, output, name, hex(contents)]
        try process.run()
        process.waitUntilExit()
        return Array(try Data(contentsOf: URL(fileURLWithPath: output)))
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "postern-clamav-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A database directory holding a copy of test.ndb.
    static func databaseCopy() throws -> String {
        let directory = try temporaryDirectory()
        try FileManager.default.copyItem(atPath: database + "/test.ndb", toPath: directory + "/test.ndb")
        return directory
    }

    /// An .ndb body signature for `text`.
    static func signature(named name: String, for text: String) -> String {
        "\(name):0:*:\(hex(Array(text.utf8)))\n"
    }
}
