import Delivery
import DNSModel
import Logging
import MailQueue
import MailStore
import Policy
import SMTPServer

/// The IMAP and POP3 side of the daemon: who a login is, and which
/// password file checks it.
///
/// Logins are checked against the password file of the first SMTP
/// listener whose policy has AUTH (the submission listener), with that
/// listener's failure throttle, so a password guessed at over IMAP counts
/// against the same address as one guessed at over SMTP. Its `[users.NAME]
/// senders` are the addresses whose held mail the user sees.
enum MailAccess {
    /// The SMTP listener whose policy serves logins, if any has AUTH.
    static func authListener(_ listeners: [SMTPListener]) -> SMTPListener? {
        listeners.first { $0.context.policy.passwords != nil }
    }

    /// Whether a client address is in the trusted networks of that listener's
    /// policy in force (reloads included): exempt from the per-address
    /// connection limit, as SMTP clients there are.
    static func trusted(_ listener: SMTPListener?) -> @Sendable (String) -> Bool {
        { address in
            guard let listener, let ip = IPAddress(address) else { return false }
            return listener.context.policy.config.relay.trustedNetworks.contains(ip)
        }
    }

    /// The password file and throttle in force (reloads included).
    static func auth(_ listener: SMTPListener?) -> @Sendable () -> (passwords: PasswordFile?, throttle: AuthThrottle?) {
        { (listener?.context.policy.passwords, listener?.context.policy.authThrottle) }
    }

    static func accounts(config: PosternConfig, mover: QuarantineMover, authListener: SMTPListener?,
                         localMaildir: @escaping @Sendable (String) -> String?) -> MailDirectory {
        let admins = Set(config.quarantine.admins)
        let actions = QuarantineActions(
            release: { id, recipients, user in try await mover.release(id, recipients: recipients, user: user) },
            drop: { id, recipients, user in try await mover.drop(id, recipients: recipients, user: user) })
        return MailDirectory(quarantineDirectory: config.quarantineDirectory, actions: actions) { name in
            let policy = authListener?.context.policy.config
            var addresses = policy?.users[name.lowercased()]?.senders ?? []
            // A login named like an address owns that address (as in SMTP AUTH's sender check).
            if name.contains("@"), let own = AddressPattern(name), own.isAddress { addresses.append(own) }
            let address = name.contains("@") ? name : nil
            return MailUser(name: name, addresses: addresses, isAdministrator: admins.contains(name),
                            localMaildir: address.flatMap(localMaildir))
        }
    }

    /// The sockets `Privileges` bound for IMAP and POP3, in its order.
    struct Sockets {
        var imap: [ListenSocket] = []
        var imapTLS: [ListenSocket] = []
        var pop3: [ListenSocket] = []
        var pop3TLS: [ListenSocket] = []

        init(_ all: [ListenSocket], config: PosternConfig) {
            var rest = all.dropFirst(config.listeners.count)
            func take(_ count: Int) -> [ListenSocket] {
                defer { rest = rest.dropFirst(count) }
                return Array(rest.prefix(count))
            }
            imap = take(config.imap.listeners.count)
            imapTLS = take(config.imap.tlsListeners.count)
            pop3 = take(config.pop3.listeners.count)
            pop3TLS = take(config.pop3.tlsListeners.count)
        }
    }
}
