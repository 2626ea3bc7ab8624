import Foundation
import NIOConcurrencyHelpers
import NIOEmbedded
import SMTPCore
import Testing
@testable import SMTPServer

@Suite struct PasswordHashTests {
    @Test(arguments: PasswordHash.Scheme.allCases)
    func makeThenVerify(scheme: PasswordHash.Scheme) throws {
        let hash = try PasswordHash.make(password: "correct horse", scheme: scheme)
        #expect(hash.hasPrefix(scheme.prefix))
        #expect(PasswordHash.verify(password: "correct horse", hash: hash))
        #expect(!PasswordHash.verify(password: "correct hors", hash: hash))
        #expect(!PasswordHash.verify(password: "", hash: hash))
        #expect(try PasswordHash.make(password: "correct horse", scheme: scheme) != hash, "salts are random")
    }

    /// Hashes made elsewhere: `openssl passwd -6`, Python's crypt, OpenBSD's bcrypt vector.
    @Test(arguments: [
        ("secret", "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"),
        ("secret", "$y$j9T$saltsaltsaltsalt$.Zt5W26jjocuW0wIHGgB6AJelofw6GEpOypHGyow2y5"),
        ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
        ("secret", "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a"),
    ])
    func knownHashes(password: String, hash: String) {
        #expect(PasswordHash.verify(password: password, hash: hash))
        #expect(!PasswordHash.verify(password: password + "x", hash: hash))
        #expect(!PasswordHash.verify(password: password, hash: String(hash.dropLast())))
    }

    @Test func lockedAndBrokenHashesNeverMatch() {
        let sha = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
        for hash in ["", "*", "!", "!" + sha, "*0", "$6$", "$9$nonsense", "x"] {
            #expect(!PasswordHash.verify(password: "secret", hash: hash), "\(hash)")
        }
        #expect(!PasswordHash.verify(password: "secret\0tail", hash: sha), "NUL would truncate the password")
    }

    @Test func unusablePasswordsAreRefused() {
        #expect(throws: PasswordHash.HashError.unusablePassword) { try PasswordHash.make(password: "") }
        #expect(throws: PasswordHash.HashError.unusablePassword) { try PasswordHash.make(password: "a\0b") }
        #expect(throws: PasswordHash.HashError.unusablePassword) {
            try PasswordHash.make(password: String(repeating: "p", count: 600))
        }
    }
}

/// A temporary directory removed when the test ends.
private final class AuthTestDirectory {
    let path = NSTemporaryDirectory() + "postern-auth-" + UUID().uuidString

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        return file
    }

    func read(_ name: String) throws -> String { try String(contentsOfFile: path + "/" + name, encoding: .utf8) }
}

@Suite struct PasswordFileTests {
    static let secretSHA = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"

    @Test func verifiesUsers() async throws {
        let directory = try AuthTestDirectory()
        let bcrypt = try PasswordHash.make(password: "hunter2", scheme: .bcrypt)
        let path = try directory.write("passwd", """
            # SMTP AUTH users
            alice:\(Self.secretSHA)

              bob : \(bcrypt) :1000:extra
            carol:!\(Self.secretSHA)
            dave:*
            alice:\(bcrypt)
            not a valid line
            """)
        let file = PasswordFile(path: path)
        #expect(await file.verify(user: "alice", password: "secret") == .valid)
        #expect(await file.verify(user: "alice", password: "hunter2") == .invalid, "the first alice line wins")
        #expect(await file.verify(user: "alice", password: "Secret") == .invalid)
        #expect(await file.verify(user: "Alice", password: "secret") == .invalid, "names are case-sensitive")
        #expect(await file.verify(user: "bob", password: "hunter2") == .valid)
        #expect(await file.verify(user: "carol", password: "secret") == .invalid, "locked")
        #expect(await file.verify(user: "dave", password: "") == .invalid)
        #expect(await file.verify(user: "mallory", password: "secret") == .invalid)
        #expect(await file.verify(user: "", password: "") == .invalid)
    }

    @Test func missingFileIsUnavailable() async throws {
        let directory = try AuthTestDirectory()
        let file = PasswordFile(path: directory.path + "/absent")
        guard case .unavailable(let reason) = await file.verify(user: "alice", password: "secret") else {
            Issue.record("expected unavailable")
            return
        }
        #expect(reason.contains("absent") && !reason.contains("secret"))
        #expect(await PasswordFile(path: directory.path).verify(user: "a", password: "b") != .valid, "a directory")
    }

    @Test func rereadsTheFileWhenItChanges() async throws {
        let directory = try AuthTestDirectory()
        let path = try directory.write("passwd", "alice:\(Self.secretSHA)\n")
        let file = PasswordFile(path: path)
        #expect(await file.verify(user: "alice", password: "secret") == .valid)
        try PasswordFile.setEntry(path: path, user: "alice", hash: PasswordHash.make(password: "new one"))
        #expect(await file.verify(user: "alice", password: "secret") == .invalid)
        #expect(await file.verify(user: "alice", password: "new one") == .valid)
        // Rewritten in place (same inode), with a different size.
        try "# emptied\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(await file.verify(user: "alice", password: "new one") == .invalid)
        try FileManager.default.removeItem(atPath: path)
        #expect(await file.verify(user: "alice", password: "new one") != .valid)
    }

    @Test func unknownUsersCostAboutAsMuchAsKnownOnes() async throws {
        let directory = try AuthTestDirectory()
        let path = try directory.write("passwd", "alice:\(try PasswordHash.make(password: "pw"))\n")
        let file = PasswordFile(path: path)
        _ = await file.verify(user: "alice", password: "warm-up")
        // Fastest of several alternating runs, so that other tests' load does not count.
        var known = Duration.seconds(60), unknown = Duration.seconds(60)
        for _ in 0..<8 {
            known = min(known, await ContinuousClock().measure { _ = await file.verify(user: "alice", password: "x") })
            unknown = min(unknown, await ContinuousClock().measure { _ = await file.verify(user: "nobody", password: "x") })
        }
        // A quarter: the parallel unit tests' load can still halve one side;
        // skipping the hash for unknown users would cost microseconds, not milliseconds.
        #expect(unknown > known / 4, "known \(known), unknown \(unknown)")
    }

    @Test func setEntryKeepsCommentsAndOtherLines() throws {
        let directory = try AuthTestDirectory()
        let path = try directory.write("passwd", "# header\nalice:old:1000\n\n# bob below\nbob:bobhash\nalice:dup\n")
        #expect(try PasswordFile.setEntry(path: path, user: "alice", hash: "$6$new") == .changed)
        #expect(try directory.read("passwd") == "# header\nalice:$6$new:1000\n\n# bob below\nbob:bobhash\n")
        #expect(try PasswordFile.setEntry(path: path, user: "carol", hash: "$y$c") == .added)
        #expect(try directory.read("passwd").hasSuffix("bob:bobhash\ncarol:$y$c\n"))
        #expect(try PasswordFile.removeEntry(path: path, user: "bob"))
        #expect(try !PasswordFile.removeEntry(path: path, user: "bob"))
        #expect(try directory.read("passwd") == "# header\nalice:$6$new:1000\n\n# bob below\ncarol:$y$c\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(leftovers == ["passwd"], "no temporary files left")
    }

    @Test func setEntryCreatesAPrivateFileAndKeepsAnExistingMode() throws {
        let directory = try AuthTestDirectory()
        let path = directory.path + "/new"
        #expect(try !PasswordFile.removeEntry(path: path, user: "alice"))
        #expect(try PasswordFile.setEntry(path: path, user: "alice", hash: "h") == .added)
        #expect(try directory.read("new") == "alice:h\n")
        let mode = { try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1 }
        #expect(try mode() == 0o600)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        try PasswordFile.setEntry(path: path, user: "alice", hash: "h2")
        #expect(try mode() == 0o640)
    }

    @Test(arguments: ["", "a:b", "a b", "tab\t", "nl\n", "ctl\u{7}", "#root", String(repeating: "u", count: 256)])
    func badUserNamesAreRefused(name: String) throws {
        let directory = try AuthTestDirectory()
        let path = directory.path + "/passwd"
        #expect(throws: PasswordFileError.invalidUserName(name)) { try PasswordFile.setEntry(path: path, user: name, hash: "h") }
        #expect(throws: PasswordFileError.invalidUserName(name)) { try PasswordFile.removeEntry(path: path, user: name) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func badHashesAreRefused() throws {
        let directory = try AuthTestDirectory()
        for hash in ["", "a:b", "a\nb", "a b"] {
            #expect(throws: PasswordFileError.invalidHash) {
                try PasswordFile.setEntry(path: directory.path + "/passwd", user: "alice", hash: hash)
            }
        }
    }
}

@Suite struct SASLTests {
    private static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    @Test func plainWithoutAuthorizationID() throws {
        let credentials = try SASL.decodePlain(Self.base64("\0alice\0s3cr3t pass"))
        #expect(credentials == SASLCredentials(user: "alice", password: "s3cr3t pass"))
    }

    @Test func plainWithAuthorizationID() throws {
        let credentials = try SASL.decodePlain(Self.base64("admin\0alice\0pw:with\u{e9}"))
        #expect(credentials == SASLCredentials(authorizationID: "admin", user: "alice", password: "pw:with\u{e9}"))
    }

    @Test(arguments: ["alice\0pw", "alicepw", "\0\0pw", "\0alice\0", "\0alice\0pw\0more", "", "\0al\u{7f}\0"])
    func malformedPlain(message: String) {
        #expect(throws: SASLError.malformed) { try SASL.decodePlain(Self.base64(message)) }
    }

    @Test(arguments: ["AGFsaWNlAHB", "AGFsaWNlAHB3=", "AGFs aWNlAHB3", "AGFsaWNlAHB3\r\n", "AGFsaWNl!HB3",
                      "YQ", "YR==", "YWJ=", "Y===", "=AAA", "YQ==YQ=="])
    func badBase64(text: String) {
        #expect(throws: SASLError.badBase64) { try SASL.decodeBase64(text) }
    }

    @Test func base64RoundTrips() throws {
        for text in ["", "a", "ab", "abc", "abcd", "\0\u{ff}\u{10FFFF}"] {
            #expect(try SASL.decodeBase64(Self.base64(text)) == Array(text.utf8))
        }
        #expect(try SASL.decodeBase64("AGFsaWNlAHB3") == Array("\0alice\0pw".utf8))
    }

    @Test func cancelAndEmptyResponse() {
        #expect(throws: SASLError.cancelled) { try SASL.decodePlain("*") }
        #expect(throws: SASLError.malformed) { try SASL.decodePlain("=") }
        #expect(throws: SASLError.cancelled) { try SASL.decodeBase64Text("*") }
        #expect(throws: SASLError.badBase64) { try SASL.decodeBase64Text("=") }
        #expect(throws: SASLError.malformed) { try SASL.decodeBase64Text(Self.base64("a\0b")) }
        #expect(throws: SASLError.malformed) { try SASL.decodeBase64Text("/w==") } // 0xFF is not UTF-8
    }

    @Test func loginSteps() throws {
        #expect(try SASL.decodeBase64Text(SASL.loginUsernameChallenge) == "Username:")
        #expect(try SASL.decodeBase64Text(SASL.loginPasswordChallenge) == "Password:")
        #expect(try SASL.decodeBase64Text(Self.base64("alice@example.org")) == "alice@example.org")
    }

    @Test func repliesFollowRFC4954() {
        #expect(SASLError.cancelled.reply == SMTPReply(code: 501, enhanced: EnhancedStatusCode(5, 0, 0), text: "Authentication cancelled"))
        #expect(SASLError.badBase64.reply == SMTPReply(code: 501, enhanced: .syntaxError, text: "Cannot decode response"))
        #expect(SASLError.malformed.reply == SASLError.badBase64.reply)
    }

    @Test func credentialsNeverShowThePassword() {
        let credentials = SASLCredentials(authorizationID: "admin", user: "alice\r\nforged", password: "hunter2")
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in ["\(credentials)", String(reflecting: credentials), dumped, "\([credentials])"] {
            #expect(!text.contains("hunter2"), "\(text)")
            #expect(text.contains("alice"))
        }
        #expect(credentials.description == "authzid=admin user=alice??forged")
        #expect(SASLCredentials(user: "bob", password: "pw").description == "user=bob")
    }
}

@Suite struct AuthThrottleTests {
    /// A clock the test moves by hand.
    final class ManualClock: Sendable {
        private let seconds = NIOLockedValueBox(1000.0)
        func advance(_ by: Double) { seconds.withLockedValue { $0 += by } }
        var now: @Sendable () -> Double { { [self] in seconds.withLockedValue { $0 } } }
    }

    @Test func blocksAtTheLimitAndUnblocksAfterTheWindow() {
        let clock = ManualClock()
        let throttle = AuthThrottle(maxFailures: 3, window: 60, now: clock.now)
        #expect(!throttle.recordFailure("192.0.2.1"))
        #expect(!throttle.recordFailure("192.0.2.1"))
        #expect(!throttle.isBlocked("192.0.2.1"))
        #expect(throttle.recordFailure("192.0.2.1"))
        #expect(throttle.isBlocked("192.0.2.1"))
        #expect(!throttle.isBlocked("192.0.2.2"))
        clock.advance(59)
        #expect(throttle.isBlocked("192.0.2.1"))
        clock.advance(1)
        #expect(!throttle.isBlocked("192.0.2.1"))
        #expect(!throttle.recordFailure("192.0.2.1"), "a fresh window")
    }

    @Test func failuresSpreadOverMoreThanAWindowDoNotBlock() {
        let clock = ManualClock()
        let throttle = AuthThrottle(maxFailures: 2, window: 10, now: clock.now)
        #expect(!throttle.recordFailure("2001:db8::1"))
        clock.advance(11)
        #expect(!throttle.recordFailure("2001:db8::1"))
        #expect(!throttle.isBlocked("2001:db8::1"))
    }

    @Test func tableIsCappedAndPruned() {
        let clock = ManualClock()
        let throttle = AuthThrottle(maxFailures: 1, window: 60, capacity: 4, now: clock.now)
        for host in 1...4 {
            throttle.recordFailure("192.0.2.\(host)")
            clock.advance(1)
        }
        #expect(throttle.trackedCount == 4)
        throttle.recordFailure("192.0.2.5")
        #expect(throttle.trackedCount == 4)
        #expect(!throttle.isBlocked("192.0.2.1"), "the oldest was evicted")
        #expect((2...5).allSatisfy { throttle.isBlocked("192.0.2.\($0)") })
        clock.advance(120)
        throttle.recordFailure("198.51.100.1")
        #expect(throttle.trackedCount == 1, "expired entries pruned")
    }
}

@Suite struct PasswordFileEventLoopTests {
    @Test func verifiesOnAnEventLoop() async throws {
        let path = NSTemporaryDirectory() + "postern-auth-el-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        try PasswordFile.setEntry(path: path, user: "alice", hash: PasswordFileTests.secretSHA)
        let loop = NIOAsyncTestingEventLoop()
        let file = PasswordFile(path: path)
        #expect(try await file.verify(user: "alice", password: "secret", on: loop).get() == .valid)
        #expect(try await file.verify(user: "alice", password: "nope", on: loop).get() == .invalid)
        await loop.shutdownGracefully()
    }
}
