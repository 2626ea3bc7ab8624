import NIOCore
import Policy
import SMTPServer
import Testing
@testable import PosternDaemon

@Suite("Listener PROXY protocol settings")
struct ProxyProtocolConfigTests {
    @Test func proxyListenerNamesItsLoadBalancers() throws {
        let config = try ConfigLoader.load(text: """
            [[listener]]
            address = "127.0.0.1:2525"
            [[listener]]
            address = "0.0.0.0:25"
            proxy_protocol = true
            proxy_from = ["10.0.0.5", "10.0.1.0/24", "2001:db8::/64"]
            [[listener]]
            address = "0.0.0.0:587"
            proxy_protocol = false
            proxy_from = ["10.0.0.5"]
            """, file: "p.toml")
        #expect(config.listeners.map(\.proxyProtocol) == [
            nil,
            ProxyProtocolSettings(trustedProxies: ["10.0.0.5", "10.0.1.0/24", "2001:db8::/64"].compactMap(IPNetwork.init)),
            nil,
        ])
        #expect(config.listeners[1].proxyProtocol?.headerTimeout == .seconds(10))
    }

    @Test(arguments: [
        ("proxy_protocol = true",
         "p.toml:3: listener.proxy_protocol: proxy_protocol = true needs proxy_from (the load balancers' addresses or networks)"),
        ("proxy_protocol = true\nproxy_from = []", "p.toml:4: listener.proxy_from: must name at least one load balancer"),
        ("proxy_protocol = true\nproxy_from = [\"lb.example\"]", "p.toml:4: listener.proxy_from: lb.example is not an address or CIDR network"),
        ("proxy_protocol = true\nproxy_from = \"10.0.0.5\"", "p.toml:4: listener.proxy_from: must be an array of strings"),
        ("proxy_protocol = \"yes\"\nproxy_from = [\"10.0.0.5\"]", "p.toml:3: listener.proxy_protocol: must be true or false"),
        ("proxy_from = [\"10.0.0.300\"]", "p.toml:3: listener.proxy_from: 10.0.0.300 is not an address or CIDR network"),
    ])
    func mistakesAreNamed(_ keys: String, _ expected: String) {
        do {
            _ = try ConfigLoader.load(text: "[[listener]]\naddress = \"0.0.0.0:25\"\n" + keys + "\n", file: "p.toml")
            Issue.record("accepted \(keys)")
        } catch {
            #expect(error.issues.map(\.description) == [expected])
        }
    }

    /// A reload gives the new settings to new connections: nothing to restart.
    @Test func reloadNeedsNoRestartForProxySettings() throws {
        let old = try ConfigLoader.load(text: "[[listener]]\naddress = \"0.0.0.0:25\"\n", file: "p.toml")
        let new = try ConfigLoader.load(text: "[[listener]]\naddress = \"0.0.0.0:25\"\nproxy_protocol = true\nproxy_from = [\"10.0.0.5\"]\n",
                                        file: "p.toml")
        #expect(Reloader.needsRestart(old: old, new: new, resolverAvailable: false).isEmpty)
    }
}
