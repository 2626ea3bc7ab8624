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
}
