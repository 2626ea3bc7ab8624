import NIOCore
import POP3Core
import SMTPCore
import SMTPServer

/// Logins: the password check off the event loop against the SMTP AUTH
/// password file, per-address throttling shared with SMTP AUTH, and a delay
/// before every failure. Nothing of a password is logged; the user name
/// only once it has logged in.
extension POP3ServerHandler {
    func verify(_ credentials: SASLCredentials, context: ChannelHandlerContext) {
        let (passwords, throttle) = server.auth()
        // A blocked address gets the answer of a wrong password, whatever it
        // sent: after the limit a guess cannot tell right from wrong.
        if let throttle, throttle.isBlocked(clientKey) {
            logger.notice("pop3 login refused: too many failures from this address")
            POP3ServerMetrics.logins[.throttled]?.increment()
            return failAfterDelay(limitReached: true, context: context)
        }
        // Acting for another identity (PLAIN's authzid) is not offered.
        if let authzid = credentials.authorizationID, authzid != credentials.user {
            return checked(.invalid, user: credentials.user, throttle: throttle, context: context)
        }
        guard let passwords else {
            logger.error("pop3 login impossible: no password file")
            POP3ServerMetrics.logins[.error]?.increment()
            return perform(session.authenticationFinished(.unavailable), context: context)
        }
        let user = credentials.user
        let password = credentials.password
        work(context: context, { await passwords.verify(user: user, password: password) }) { handler, context, result in
            handler.checked(result, user: user, throttle: throttle, context: context)
        }
    }

    private func checked(_ result: AuthCheck, user: String, throttle: AuthThrottle?, context: ChannelHandlerContext) {
        switch result {
        case .valid:
            POP3ServerMetrics.logins[.success]?.increment()
            logger[metadataKey: "user"] = "\(user)"
            logger.info("pop3 login")
            perform(session.authenticationFinished(.valid), context: context)
        case .invalid:
            POP3ServerMetrics.logins[.failure]?.increment()
            let limitReached = throttle?.recordFailure(clientKey) ?? false
            logger.notice("pop3 login failed", metadata: ["limit_reached": "\(limitReached)"])
            failAfterDelay(limitReached: limitReached, context: context)
        case .unavailable(let reason):
            POP3ServerMetrics.logins[.error]?.increment()
            logger.error("password file unavailable", metadata: ["reason": "\(reason)"])
            perform(session.authenticationFinished(.unavailable), context: context)
        }
    }

    /// "-ERR [AUTH]" after `failureDelay`, reading nothing meanwhile.
    private func failAfterDelay(limitReached: Bool, context: ChannelHandlerContext) {
        guard server.failureDelay > .zero else {
            return perform(session.authenticationFinished(.invalid(limitReached: limitReached)), context: context)
        }
        pause(context: context)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: server.failureDelay) {
            let (handler, context) = loopBound.value
            handler.paused = false
            guard !handler.closing, context.channel.isActive else { return }
            handler.perform(handler.session.authenticationFinished(.invalid(limitReached: limitReached)), context: context)
            handler.resume(context: context)
        }
    }
}
