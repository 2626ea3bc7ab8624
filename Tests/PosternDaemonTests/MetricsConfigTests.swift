import Testing
@testable import PosternDaemon

@Suite("[metrics] configuration")
struct MetricsConfigTests {
    @Test func offWithoutTheTable() throws {
        let config = try ConfigLoader.load(text: "hostname = \"relay.test\"\n", file: "postern.toml")
        #expect(config.metrics.enabled == false)
        #expect(config.metrics.address == .init(host: "127.0.0.1", port: 9125))
    }

    @Test func tableTurnsItOnAtItsAddress() throws {
        let config = try ConfigLoader.load(text: "[metrics]\naddress = \"[::1]:9200\"\n", file: "postern.toml")
        #expect(config.metrics.enabled)
        #expect(config.metrics.address == .init(host: "::1", port: 9200))
    }

    @Test func enabledFalseWins() throws {
        let config = try ConfigLoader.load(text: "[metrics]\nenabled = false\naddress = \"127.0.0.1:9200\"\n",
                                           file: "postern.toml")
        #expect(config.metrics.enabled == false)
    }

    @Test(arguments: [
        ("[metrics]\naddress = \"127.0.0.1\"\n", "postern.toml:2: metrics.address: expected HOST:PORT"),
        ("[metrics]\naddress = \"127.0.0.1:0\"\n", "postern.toml:2: metrics.address: expected HOST:PORT"),
        ("[metrics]\naddress = 9125\n", "postern.toml:2: metrics.address: must be a string"),
        ("\n[metrics]\nenabled = \"yes\"\n", "postern.toml:3: metrics.enabled: must be true or false"),
        ("[metrics]\nport = 9125\n", "postern.toml:2: metrics.port: unknown key"),
        ("metrics = 1\n", "postern.toml:1: metrics: must be a table"),
    ])
    func mistakesNameFileLineAndKey(text: String, expected: String) {
        do {
            _ = try ConfigLoader.load(text: text, file: "postern.toml")
            Issue.record("no error for \(text)")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        }
    }
}
