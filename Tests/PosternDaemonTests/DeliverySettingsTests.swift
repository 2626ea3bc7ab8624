import Delivery
import MailQueue
import Testing
@testable import PosternDaemon

@Suite("[delivery] settings")
struct DeliverySettingsTests {
    @Test func deadDestinationsAndActiveMessages() throws {
        let config = try ConfigLoader.load(text: """
            [delivery]
            workers = 4
            max_active = 200
            dead_after = 3
            dead_time = 90
            """, file: "/etc/postern/postern.toml")
        #expect(config.delivery.workers == 4)
        #expect(config.delivery.maxActive == 200)
        #expect(config.delivery.deadAfter == 3)
        #expect(config.delivery.deadTimeSeconds == 90)
    }

    @Test func defaults() {
        let settings = PosternConfig.DeliverySettings()
        #expect(settings.maxActive == 5000)
        #expect(settings.deadAfter == 1)
        #expect(settings.deadTimeSeconds == nil) // then retry_min, as Postfix's minimal_backoff_time
    }

    @Test(arguments: [("max_active = 0", "delivery.max_active"), ("dead_after = -1", "delivery.dead_after"),
                      ("dead_time = 0", "delivery.dead_time"), ("dead_time = \"long\"", "delivery.dead_time")])
    func badValues(_ line: String, _ key: String) {
        do {
            _ = try ConfigLoader.load(text: "[delivery]\n\(line)\n", file: "p.toml")
            Issue.record("accepted \(line)")
        } catch {
            #expect(error.issues.map(\.key) == [key])
            #expect(error.issues.first?.line == 2)
        }
    }

    @Test func mtaSTSSettings() throws {
        #expect(PosternConfig.DeliverySettings().mtaSTS) // on by default for MX delivery
        #expect(PosternConfig.DeliverySettings().mtaSTSPort == 443)
        let config = try ConfigLoader.load(text: """
            [delivery]
            mta_sts = false
            mta_sts_port = 8443
            tls_ca_file = "/etc/hostname"
            """, file: "p.toml")
        #expect(!config.delivery.mtaSTS)
        #expect(config.delivery.mtaSTSFetchSettings.port == 8443)
        #expect(config.delivery.mtaSTSFetchSettings.trustRootsFile == "/etc/hostname")
    }

    @Test(arguments: [("mta_sts = \"yes\"", "delivery.mta_sts"), ("mta_sts_port = 0", "delivery.mta_sts_port"),
                      ("tls_ca_file = \"/nonexistent/ca.pem\"", "delivery.tls_ca_file")])
    func badMTASTSValues(_ line: String, _ key: String) {
        do {
            _ = try ConfigLoader.load(text: "[delivery]\n\(line)\n", file: "p.toml")
            Issue.record("accepted \(line)")
        } catch {
            #expect(error.issues.map(\.key) == [key])
        }
    }

    @Test func maildirRoutesAreReadAndMapUsersToTheirMaildirs() throws {
        let config = try ConfigLoader.load(text: """
            [delivery.routes]
            "Example.ORG" = "maildir:/var/mail/%d/%u"
            "hop.test" = "[127.0.0.1]:2525"
            """, file: "p.toml")
        #expect(config.delivery.maildirRoutes.keys.sorted() == ["example.org"])
        #expect(config.delivery.maildirPath(for: "Bob@example.org") == "/var/mail/example.org/bob")
        #expect(config.delivery.maildirPath(for: "bob@EXAMPLE.org") == "/var/mail/example.org/bob")
        #expect(config.delivery.maildirPath(for: "bob@hop.test") == nil)
        #expect(config.delivery.maildirPath(for: "a/b@example.org") == nil)
        #expect(config.delivery.maildirPath(for: "bob") == nil)
        let (routes, _) = Daemon.destinations(config.delivery)
        #expect(routes["example.org"] == .maildir(try MaildirRoute(parsing: "maildir:/var/mail/%d/%u")))
        #expect(routes["hop.test"] == .smtp(Router.Destination(host: "127.0.0.1", port: 2525)))
    }

    @Test(arguments: [
        ("maildir:relative/%u", "the maildir path must be absolute, e.g. \"maildir:/var/mail/%d/%u\""),
        ("maildir:/x/%q", "unknown %q in the maildir path (expected %d, %u, %a or %%)"),
        ("maildir:/x/%", "a lone % ends the maildir path (write %% for a %)"),
        ("mail dir", "expected \"[host]:port\", \"host:port\" or \"maildir:/path/%d/%u\""),
    ])
    func badRoutesAreNamed(_ value: String, _ message: String) {
        do {
            _ = try ConfigLoader.load(text: "[delivery.routes]\n\"a.test\" = \"\(value)\"\n", file: "p.toml")
            Issue.record("accepted \(value)")
        } catch {
            #expect(error.issues.map(\.description) == ["p.toml:2: delivery.routes.a.test: \(message)"])
        }
    }
}
