import IMAPCore
import MailStore
import SMTPCore

/// LOGIN (RFC 3501 §6.2.3) and AUTHENTICATE PLAIN (§6.2.2, RFC 4616, with
/// SASL-IR RFC 4959) against the SMTP AUTH password file.
extension IMAPSession {
    func login(_ tag: String, user: String, password: String, _ out: inout SessionOutput) async {
        guard !isAuthenticated else {
            out.tagged(tag, .bad, "Logged in already")
            return
        }
        guard isTLS || context.allowPlaintextAuth else {
            out.tagged(tag, .no, code: "PRIVACYREQUIRED", "Use STARTTLS first")
            return
        }
        await verify(tag, user: user, password: password, &out)
    }

    func authenticate(_ tag: String, mechanism: String, initial: SecretBytes?, _ out: inout SessionOutput) async {
        guard !isAuthenticated else {
            out.tagged(tag, .bad, "Logged in already")
            return
        }
        guard mechanism == "PLAIN" else {
            out.tagged(tag, .no, code: "CANNOT", "Only AUTHENTICATE PLAIN is offered")
            return
        }
        guard isTLS || context.allowPlaintextAuth else {
            out.tagged(tag, .no, code: "PRIVACYREQUIRED", "Use STARTTLS first")
            return
        }
        guard let initial else {
            pendingAuthentication = tag
            out.continuation("")
            out.after = .authContinuation
            return
        }
        await finishPlain(tag, response: String(decoding: initial.bytes, as: UTF8.self), &out)
    }

    /// The client's line after "+ " inside AUTHENTICATE.
    func authenticationResponse(_ response: AuthenticationResponse) async -> SessionOutput {
        var out = SessionOutput()
        guard let tag = pendingAuthentication else { return refuse(tag: nil, "No authentication in progress") }
        pendingAuthentication = nil
        switch response {
        case .cancel:
            out.tagged(tag, .bad, "AUTHENTICATE cancelled")
        case .response(let bytes):
            await finishPlain(tag, response: String(decoding: bytes.bytes, as: UTF8.self), &out)
        }
        return out
    }

    private func finishPlain(_ tag: String, response: String, _ out: inout SessionOutput) async {
        let credentials: SASLCredentials
        do {
            credentials = try SASL.decodePlain(response)
        } catch {
            out.tagged(tag, .bad, "Cannot decode the PLAIN response")
            return
        }
        // No proxy logins: the authorization identity, if sent, is the user.
        if let authzid = credentials.authorizationID, authzid != credentials.user {
            out.tagged(tag, .no, code: "AUTHORIZATIONFAILED", "Cannot log in as another user")
            return
        }
        await verify(tag, user: credentials.user, password: credentials.password, &out)
    }

    /// Checks the password; failures count toward the per-address
    /// throttle SMTP AUTH uses, and a blocked address is told no without
    /// a check (the answer does not say whether the password was right).
    private func verify(_ tag: String, user: String, password: String, _ out: inout SessionOutput) async {
        let (passwords, throttle) = context.auth()
        guard let passwords else {
            out.tagged(tag, .no, code: "UNAVAILABLE", "Login is not configured")
            return
        }
        if throttle?.isBlocked(clientAddress) == true {
            IMAPServerMetrics.login(.throttled)
            logger.notice("login refused: too many failures from this address", metadata: ["user": "\(Self.printable(user))"])
            out.tagged(tag, .no, code: "AUTHENTICATIONFAILED", "Authentication failed")
            return
        }
        switch await passwords.verify(user: user, password: password) {
        case .valid:
            // A session holds at most one place (LOGIN after LOGOUT is not
            // possible today: the connection closes).
            if let sessions = context.userSessions, placeHeldFor == nil {
                guard sessions.acquire(user: user, address: clientAddress) else {
                    IMAPServerMetrics.login(.limited)
                    logger.notice("login refused: too many sessions for this user from this address", metadata: [
                        "user": "\(Self.printable(user))", "limit": "\(sessions.limit)",
                    ])
                    out.tagged(tag, .no, code: "UNAVAILABLE", "Maximum number of connections from user+IP exceeded")
                    return
                }
                placeHeldFor = user
                if hasEnded { ended() }
            }
            let account = context.accounts.account(for: user)
            state = .authenticated(account)
            IMAPServerMetrics.login(.success)
            logger[metadataKey: "user"] = "\(user)"
            logger.info("login", metadata: ["tls": "\(isTLS)", "admin": "\(account.isAdministrator)"])
            out.tagged(tag, .ok, code: "CAPABILITY \(capabilities())", "Logged in")
        case .invalid:
            IMAPServerMetrics.login(.failure)
            let blocked = throttle?.recordFailure(clientAddress) ?? false
            logger.notice("login failed", metadata: ["user": "\(Self.printable(user))", "blocked": "\(blocked)"])
            out.tagged(tag, .no, code: "AUTHENTICATIONFAILED", "Authentication failed")
        case .unavailable(let why):
            IMAPServerMetrics.login(.error)
            logger.error("password file unavailable", metadata: ["error": "\(why)"])
            out.tagged(tag, .no, code: "UNAVAILABLE", "Temporary failure, try again later")
        }
    }

    /// A user name as a client sent it, fit for a log line.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(128).map { $0.value >= 32 && $0.value != 127 ? $0 : "?" }))
    }
}
