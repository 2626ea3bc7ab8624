import SMTPServer

extension TableReader {
    /// One `[[listener]]`: address, policy, proxy_protocol, proxy_from.
    mutating func readListener(_ table: TOMLTable) -> PosternConfig.Listener? {
        let prefix = "listener."
        checkKeys(table, allowed: ["address", "policy", "proxy_protocol", "proxy_from"], prefix: prefix)
        guard let text = string(table, "address", prefix: prefix) else {
            if table["address"] == nil { issue(table, nil, "listener.address is required", line: table.headerLine) }
            return nil
        }
        guard var listener = PosternConfig.parseListenAddress(text) else {
            issue(table, "address", "expected HOST:PORT, e.g. 127.0.0.1:2525", prefix: prefix)
            return nil
        }
        if let path = string(table, "policy", prefix: prefix).map(resolve) {
            listener.policyFile = path
            do {
                listener.policy = try PolicyLoader.load(file: path)
            } catch {
                issues += error.issues
            }
        }
        listener.proxyProtocol = readProxyProtocol(table, prefix: prefix)
        return listener
    }

    /// A header is believed only from the load balancers named in
    /// proxy_from, so turning the protocol on without them is a mistake.
    /// proxy_from alone (the protocol turned off for now) is allowed.
    private mutating func readProxyProtocol(_ table: TOMLTable, prefix: String) -> ProxyProtocolSettings? {
        let trusted = networks(table, "proxy_from", prefix: prefix)
        guard bool(table, "proxy_protocol", prefix: prefix) == true else { return nil }
        guard table["proxy_from"]?.arrayValue?.isEmpty != true else {
            issue(table, "proxy_from", "must name at least one load balancer", prefix: prefix)
            return nil
        }
        guard table["proxy_from"] != nil else {
            issue(table, "proxy_protocol", "proxy_protocol = true needs proxy_from (the load balancers' addresses or networks)",
                  prefix: prefix)
            return nil
        }
        // A wrong type or a bad entry is reported already.
        guard let trusted, !trusted.isEmpty else { return nil }
        return ProxyProtocolSettings(trustedProxies: trusted)
    }
}
