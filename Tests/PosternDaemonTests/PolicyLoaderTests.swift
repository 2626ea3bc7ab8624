import Foundation
import Policy
import Testing
@testable import PosternDaemon

/// Policy files: every key read, every mistake named with its line.
@Suite("Policy loader")
struct PolicyLoaderTests {
    static func load(_ text: String, file: String = "/etc/postern/policies/test.toml") throws(ConfigErrors) -> PolicyConfig {
        try PolicyLoader.load(text: text, file: file)
    }

    static func issues(_ text: String) -> [String] {
        do {
            _ = try load(text)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func scanTablesInOrderWithDefaults() throws {
        let policy = try Self.load("""
            [[scan]]
            backend = "clamd"
            address = "/run/clamav/clamd.ctl"
            virus = "quarantine"

            [[scan]]
            backend = "rspamd"
            name = "rspamd-inbound"
            address = "127.0.0.1:11333"
            timeout = "5s"
            max_size = "4M"
            max_in_flight = 8
            on_error = "tempfail"
            tag_score = 4.5
            quarantine_score = 10
            reject_score = 20
            subject_tag = "[SPAM]"
            use_scanner_action = false
            failures = 3
            cool_down = "1m"

            [[scan]]
            backend = "clamav"
            database = "db"
            threads = 2
            """)
        #expect(policy.scans.map(\.name) == ["clamd", "rspamd-inbound", "clamav"])
        let clamd = policy.scans[0], rspamd = policy.scans[1], clamav = policy.scans[2]
        #expect(clamd.virus == .quarantine && clamd.onError == .tempfail && clamd.timeoutSeconds == 30 && clamd.maxSize == nil)
        #expect(rspamd.address == "127.0.0.1:11333" && rspamd.timeoutSeconds == 5 && rspamd.maxSize == 4 << 20)
        #expect(rspamd.maxInFlight == 8 && rspamd.onError == .tempfail && rspamd.tagScore == 4.5 && rspamd.quarantineScore == 10)
        #expect(rspamd.rejectScore == 20 && rspamd.subjectTag == "[SPAM]" && !rspamd.useScannerAction)
        #expect(rspamd.failureLimit == 3 && rspamd.coolDownSeconds == 60)
        #expect(clamav.database == "/etc/postern/policies/db" && clamav.threads == 2)
        #expect(ScanRule(backend: .spamd).onError == .accept && ScanRule(backend: .spamd).maxSize == 512 * 1024)
    }

    @Test func everyTableIsRead() throws {
        let policy = try Self.load("""
            [relay]
            trusted_networks = ["10.0.0.0/8", "2001:db8::/32"]
            local_domains = ["Example.EDU"]
            relay_domains = ["partner.test"]

            [senders]
            allowed = ["@example.edu"]
            block = ["bad@example.edu", "<>"]

            [recipients]
            block = ["@blocked.test"]
            max_recipients = 20

            [size]
            max_message_size = "10M"

            [[network]]
            networks = ["10.9.0.0/16"]
            senders = ["scanner@example.edu"]
            max_message_size = 2048

            [users.Alice]
            senders = ["alice@example.edu"]
            max_message_size = "1G"

            [rate]
            window = "10m"
            messages_per_ip = 5
            recipients_per_user = 7

            [spf]
            softfail = "reject"
            temperror = "accept"
            check_helo = false

            [headers]
            remove = ["X-Internal", "/^X-Secret-/"]
            add = ["X-Relayed: yes"]
            strip_received = true
            [[headers.replace]]
            name = "Subject"
            pattern = "^\\\\[EXTERNAL\\\\] "
            replacement = ""
            [headers.masquerade]
            domains = [".example.edu"]
            as = "example.edu"

            [attachments]
            block_extensions = [".EXE", "scr"]
            block_content_types = ["Application/X-MSDownload"]
            """)
        #expect(policy.relay.trustedNetworks.map(\.description) == ["10.0.0.0/8", "2001:db8::/32"])
        #expect(policy.relay.localDomains == ["example.edu"])
        #expect(policy.relay.relayDomains == ["partner.test"])
        #expect(policy.senders.allowed.map(\.description) == ["@example.edu"])
        #expect(policy.senders.blocked.count == 2)
        #expect(policy.recipients.maxRecipients == 20)
        #expect(policy.maxMessageSize == 10 << 20)
        #expect(policy.networks.first?.maxMessageSize == 2048)
        #expect(policy.users["alice"]?.maxMessageSize == 1 << 30)
        #expect(policy.rate.windowSeconds == 600 && policy.rate.messagesPerIP == 5 && policy.rate.recipientsPerUser == 7)
        #expect(policy.spf.enabled && policy.spf.softfail == .reject && policy.spf.temperror == .accept && !policy.spf.checkHELO)
        #expect(policy.spf.fail == .reject) // default kept
        #expect(policy.headers.remove == ["X-Internal", "/^X-Secret-/"])
        #expect(policy.headers.replace.first?.pattern == "^\\[EXTERNAL\\] ")
        #expect(policy.headers.masquerade == .init(domains: [".example.edu"], target: "example.edu"))
        #expect(policy.attachments.blockedExtensions == ["exe", "scr"])
        #expect(policy.attachments.blockedContentTypes == ["application/x-msdownload"])
        #expect(!policy.auth.enabled)
    }

    @Test func defaultsAreSafe() throws {
        let policy = try Self.load("")
        #expect(policy.relay.trustedNetworks.map(\.description) == ["127.0.0.0/8", "::1/128"])
        #expect(policy.relay.localDomains.isEmpty)
        #expect(!policy.auth.enabled && !policy.spf.enabled && !policy.rate.isEnabled && policy.headers.isEmpty)
    }

    @Test("mistakes are named with file, line and key", arguments: [
        ("[relay]\ntrusted_networks = [\"0.0.0.0/0\"]", "test.toml:2: relay.trusted_networks: 0.0.0.0/0 would trust every address"),
        ("[relay]\ntrusted_networks = [\"0.0.0.0/1\", \"128.0.0.0/1\"]", "test.toml:2: relay.trusted_networks: 0.0.0.0/1 is wider than /8"),
        ("[relay]\ntrusted_networks = [\"2000::/3\"]", "test.toml:2: relay.trusted_networks: 2000::/3 is wider than /16"),
        ("[size]\nmax_message_size = \"99999999999G\"", "test.toml:2: size.max_message_size: must be a size"),
        ("[relay]\ntrusted_networks = [\"10.0.0.0/33\"]", "test.toml:2: relay.trusted_networks: 10.0.0.0/33 is not an address or CIDR network"),
        ("[relay]\nlocal_domains = [\"a@b\"]", "test.toml:2: relay.local_domains: \"a@b\" is not a domain"),
        ("[relay]\nopen = true", "test.toml:2: relay.open: unknown key"),
        ("[auth]\nenabled = true", "test.toml:1: auth.enabled needs auth.passwd_file"),
        ("[auth]\npasswd_file = \"/nonexistent/passwd\"", "test.toml:2: auth.passwd_file: cannot read /nonexistent/passwd"),
        ("[auth]\nmechanisms = [\"CRAM-MD5\"]", "test.toml:2: auth.mechanisms: CRAM-MD5 is not supported"),
        ("[senders]\nallowed = [\"a@\"]", "test.toml:2: senders.allowed: \"a@\" is not an address"),
        ("[size]\nmax_message_size = \"10X\"", "test.toml:2: size.max_message_size: must be a size in bytes"),
        ("[rate]\nwindow = \"soon\"", "test.toml:2: rate.window: must be seconds"),
        ("[spf]\nfail = \"drop\"", "test.toml:2: spf.fail: must be one of: accept, reject, tempfail, quarantine"),
        ("[headers]\nremove = [\"/(unclosed/\"]", "test.toml:1: headers.remove: \"/(unclosed/\""),
        ("[headers]\nadd = [\"no colon\"]", "test.toml:2: headers.add: \"no colon\" is not \"Name: value\""),
        ("[headers.masquerade]\ndomains = [\"a.test\"]", "test.toml:1: headers.masquerade needs as"),
        ("[[network]]\nsenders = [\"@a.test\"]", "test.toml:1: network.networks is required"),
        ("[attachments]\nblock_content_types = [\"exe\"]", "test.toml:2: attachments.block_content_types: exe is not type/subtype"),
        ("[users]\nalice = 1", "test.toml:2: users.alice: must be a table"),
        ("[[scan]]\naddress = \"/x\"", "test.toml:1: scan.backend is required"),
        ("[[scan]]\nbackend = \"sophos\"", "test.toml:2: scan.backend: must be one of: clamd, clamav, spamd, rspamd"),
        ("[[scan]]\nbackend = \"clamd\"", "test.toml:1: scan.address is required for backend clamd"),
        ("[[scan]]\nbackend = \"clamd\"\naddress = \"localhost\"", "test.toml:3: scan.address: must be a Unix socket path or HOST:PORT"),
        ("[[scan]]\nbackend = \"clamav\"", "test.toml:1: scan.database is required for backend clamav"),
        ("[[scan]]\nbackend = \"clamd\"\naddress = \"/s\"\nvirus = \"bounce\"", "test.toml:4: scan.virus: must be reject, quarantine or discard"),
        ("[[scan]]\nbackend = \"spamd\"\naddress = \"/s\"\nvirus = \"reject\"", "test.toml:4: scan.virus: only for virus scanners"),
        ("[[scan]]\nbackend = \"clamd\"\naddress = \"/s\"\nreject_score = 5", "test.toml:4: scan.reject_score: only for spam scanners"),
        ("[[scan]]\nbackend = \"spamd\"\naddress = \"/s\"\non_error = \"ignore\"", "test.toml:4: scan.on_error: must be tempfail or accept"),
        ("[[scan]]\nbackend = \"spamd\"\naddress = \"/s\"\nquarantine_score = 9\nreject_score = 5", "test.toml:4: scan.quarantine_score: is above reject_score"),
        ("[[scan]]\nbackend = \"spamd\"\naddress = \"/s\"\n[[scan]]\nbackend = \"spamd\"\naddress = \"/t\"", "test.toml:4: scan.name: another [[scan]] is already called \"spamd\""),
        ("[[scan]]\nbackend = \"spamd\"\naddress = \"/s\"\ntimeot = 3", "test.toml:4: scan.timeot: unknown key"),
        ("[scan]\nbackend = \"spamd\"", "test.toml:1: scan: must be an array of tables"),
        ("[[scan]]\nbackend = \"spamd\"\naddress = \"/s\"\ntimeout = 1e16", "test.toml:4: scan.timeout: must be at most 1h"),
        ("[[scan]]\nbackend = \"spamd\"\naddress = \"/s\"\ncool_down = \"2d\"", "test.toml:4: scan.cool_down: must be at most 1d"),
        ("[[scan]]\nbackend = \"x\"\n[[scan]]\nbackend = \"spamd\"\naddress = \"/s\"\n[[scan]]\nbackend = \"spamd\"\naddress = \"/t\"",
         "test.toml:6: scan.name: another [[scan]] is already called"),
        ("bogus = 1", "test.toml:1: bogus: unknown key"),
        ("[relay", "test.toml:1:"),
    ])
    func mistakes(text: String, expected: String) {
        let found = Self.issues(text)
        #expect(found.contains { $0.hasPrefix("/etc/postern/policies/" + expected) }, "\(found)")
    }

    @Test func listenersLoadTheirPolicyRelativeToTheConfigFile() throws {
        let directory = NSTemporaryDirectory() + "postern-policy-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory + "/policies", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "[relay]\nlocal_domains = [\"example.edu\"]\n".write(toFile: directory + "/policies/in.toml", atomically: true, encoding: .utf8)
        try "[relay]\nbogus = 1\n".write(toFile: directory + "/policies/bad.toml", atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(text: """
            [[listener]]
            address = "127.0.0.1:2525"
            policy = "policies/in.toml"
            [[listener]]
            address = "127.0.0.1:2526"
            """, file: directory + "/postern.toml")
        #expect(config.listeners[0].policy?.relay.localDomains == ["example.edu"])
        #expect(config.listeners[0].policyFile == directory + "/policies/in.toml")
        #expect(config.listeners[1].policy == nil)
        #expect(throws: ConfigErrors.self) {
            _ = try ConfigLoader.load(text: "[[listener]]\naddress = \"127.0.0.1:2525\"\npolicy = \"policies/bad.toml\"\n",
                                      file: directory + "/postern.toml")
        }
    }

    @Test("the example policies load", arguments: ["outbound.toml", "inbound.toml", "strict.toml"])
    func examples(name: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let policy = try PolicyLoader.load(file: root.appendingPathComponent("policies/\(name)").path)
        #expect(!policy.relay.trustedNetworks.contains { $0.prefixLength == 0 })
    }
}
