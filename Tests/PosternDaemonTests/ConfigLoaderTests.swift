import Testing
@testable import PosternDaemon

@Suite("Configuration loader")
struct ConfigLoaderTests {
    @Test func goodFile() throws {
        let config = try ConfigLoader.load(text: """
            hostname = "relay.example.org"

            [[listener]]
            address = "127.0.0.1:2526"
            [[listener]]
            address = "[::1]:2527"

            [queue]
            directory = "spool"   # relative to the file
            sync = "fsync"
            commit_delay_ms = 0.5
            journal_size_mb = 64

            [limits]
            max_message_size = 1048576
            max_recipients = 50
            command_timeout = 60

            [log]
            level = "debug"
            format = "json"
            """, file: "/etc/postern/postern.toml")
        #expect(config.hostname == "relay.example.org")
        #expect(config.listeners == [.init(host: "127.0.0.1", port: 2526), .init(host: "::1", port: 2527)])
        #expect(config.queueDirectory == "/etc/postern/spool")
        #expect(config.syncMode == .fsync)
        #expect(config.commitDelayMilliseconds == 0.5)
        #expect(PosternConfig().commitDelayMilliseconds == 1)
        #expect(config.journalSizeMiB == 64 && PosternConfig().journalSizeMiB == 32)
        #expect(config.limits.maxMessageSize == 1_048_576)
        #expect(config.limits.maxRecipients == 50)
        #expect(config.limits.commandTimeoutSeconds == 60)
        #expect(config.logLevel == .debug)
        #expect(config.logFormat == .json)
    }

    @Test func journalSizeIsWholeMiBUpTo1024() {
        #expect((try? ConfigLoader.load(text: "[queue]\njournal_size_mb = 0", file: "p.toml"))?.journalSizeMiB == 0)
        for (value, message) in [("1.5", "p.toml:2: queue.journal_size_mb: must be 0 (off) or a whole number of MiB from 1 to 1024"),
                                 ("2048", "p.toml:2: queue.journal_size_mb: must be between 0 and 1024")] {
            do {
                _ = try ConfigLoader.load(text: "[queue]\njournal_size_mb = \(value)", file: "p.toml")
                Issue.record("journal_size_mb = \(value) was taken")
            } catch {
                #expect(error.description.contains(message), "\(error)")
            }
        }
    }

    @Test func defaultsAreLoopbackOnly() {
        let config = PosternConfig()
        #expect(config.listeners == [.init(host: "127.0.0.1", port: 2525)])
        #expect(config.queueDirectory == "./var/queue")
        #expect(config.tls == nil)
    }

    @Test func quarantineDirectoryDefaultsToTheQueues() throws {
        #expect(try ConfigLoader.load(text: "[queue]\ndirectory = \"/q\"", file: "/etc/p.toml").quarantineDirectory == "/q/quarantine")
        let config = try ConfigLoader.load(text: "[quarantine]\ndirectory = \"held\"", file: "/etc/postern/p.toml")
        #expect(config.quarantineDirectory == "/etc/postern/held")
        #expect(throws: ConfigErrors.self) { try ConfigLoader.load(text: "[quarantine]\nfolder = \"x\"", file: "p.toml") }
    }

    @Test func everyMistakeIsNamedWithItsLine() {
        do {
            _ = try ConfigLoader.load(text: """
                hostname = "relay.test"
                colour = "blue"

                [[listener]]
                address = "localhost"

                [queue]
                sync = "sometimes"

                [limits]
                max_recipients = "many"
                max_errors = 0

                [tls]
                certificate = "/nonexistent/cert.pem"
                key = "/nonexistent/key.pem"
                """, file: "p.toml")
            Issue.record("accepted a bad file")
        } catch {
            let lines = error.issues.map(\.description)
            #expect(lines == [
                "p.toml:2: colour: unknown key (expected one of: control, daemon, delivery, dns, hostname, imap, limits, listener, log, metrics, pop3, quarantine, queue, tls)",
                "p.toml:5: listener.address: expected HOST:PORT, e.g. 127.0.0.1:2525",
                "p.toml:8: queue.sync: must be one of: syncfs, fsync",
                "p.toml:11: limits.max_recipients: must be an integer, not string",
                "p.toml:12: limits.max_errors: must be between 1 and 1000",
                "p.toml:15: tls.certificate: cannot read /nonexistent/cert.pem",
                "p.toml:16: tls.key: cannot read /nonexistent/key.pem",
            ])
        }
    }

    @Test func syntaxErrorNamesTheLine() {
        do {
            _ = try ConfigLoader.load(text: "hostname = \"a\"\n[limits\n", file: "x.toml")
            Issue.record("accepted a bad file")
        } catch {
            #expect(error.issues.count == 1)
            #expect(error.issues[0].line == 2)
            #expect(error.issues[0].description.hasPrefix("x.toml:2: "))
        }
    }

    @Test func dnsServersAreCheckedWithTheDaemonsParser() throws {
        let good = try ConfigLoader.load(text: "[dns]\nservers = [\"127.0.0.1:5353\", \"[::1]:53\", \"127.0.0.2\"]\n", file: "d.toml")
        #expect(good.dnsServers.count == 3)
        do {
            _ = try ConfigLoader.load(text: "[dns]\nservers = [\"dns.example\"]\n", file: "d.toml")
            Issue.record("accepted a host name as a DNS server")
        } catch {
            #expect(error.issues.map(\.description) == ["d.toml:2: dns.servers: dns.example is not an IP address or IP:PORT"])
        }
    }

    @Test func dnsValidatingIsOffUnlessSaid() throws {
        #expect(try ConfigLoader.load(text: "[dns]\nservers = [\"127.0.0.1\"]\n", file: "d.toml").dnsValidating == false)
        #expect(try ConfigLoader.load(text: "[dns]\nvalidating = true\n", file: "d.toml").dnsValidating == true)
        do {
            _ = try ConfigLoader.load(text: "[dns]\nvalidating = \"yes\"\n", file: "d.toml")
            Issue.record("accepted a string for dns.validating")
        } catch {
            #expect(error.issues.count == 1)
        }
    }

    @Test("listen addresses", arguments: [
        ("127.0.0.1:25", "127.0.0.1", 25), ("[::1]:2525", "::1", 2525), ("0.0.0.0:587", "0.0.0.0", 587),
    ])
    func listenAddress(text: String, host: String, port: Int) {
        #expect(PosternConfig.parseListenAddress(text) == .init(host: host, port: port))
    }

    @Test("bad listen addresses", arguments: ["127.0.0.1", ":25", "host:0", "host:70000", "[::1]", "[::1]2525"])
    func badListenAddress(text: String) {
        #expect(PosternConfig.parseListenAddress(text) == nil)
    }

    @Test func imapSessionsPerUser() throws {
        let base = "[[listener]]\naddress = \"0.0.0.0:25\"\n[imap]\nallow_plaintext_auth = false\n"
        #expect(try ConfigLoader.load(text: base, file: "p.toml").imap.maxConnectionsPerUserIP == 10)
        let set = try ConfigLoader.load(text: base + "max_connections_per_user_ip = 3\n", file: "p.toml")
        #expect(set.imap.maxConnectionsPerUserIP == 3)
        #expect(try ConfigLoader.load(text: base + "max_connections_per_user_ip = 0\n", file: "p.toml").imap.maxConnectionsPerUserIP == 0)
        for (text, expected) in [
            (base + "max_connections_per_user_ip = 2.5\n", "p.toml:5: imap.max_connections_per_user_ip: must be an integer, not float"),
            (base + "max_connections_per_user_ip = -1\n", "p.toml:5: imap.max_connections_per_user_ip: must be between 0 and 100000"),
            ("[pop3]\nmax_connections_per_user_ip = 3\n",
             "p.toml:2: pop3.max_connections_per_user_ip: unknown key (expected one of: allow_plaintext_auth, idle_timeout, listen, listen_tls)"),
        ] {
            do {
                _ = try ConfigLoader.load(text: text, file: "p.toml")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.issues.map(\.description) == [expected])
            }
        }
        // IMAP and POP3 listeners start once: a reload says what waits for a restart.
        let old = try ConfigLoader.load(text: base, file: "p.toml")
        #expect(Reloader.needsRestart(old: old, new: set, resolverAvailable: false) == ["[imap] or [pop3] changed: restart to apply"])
        #expect(Reloader.needsRestart(old: old, new: old, resolverAvailable: false).isEmpty)
    }
}
