import Logging
import MailStore
import NIOCore
import POP3Core

/// The maildrop: opened and locked at login, messages streamed out for
/// RETR and TOP, marked ones expunged at UPDATE. Every step is logged with
/// the user, the client and the message's quarantine ID or Maildir name.
extension POP3ServerHandler {
    /// A view and what it held when opened.
    struct OpenedMaildrop: Sendable {
        var view: any MailboxView
        var status: MailboxStatus
    }

    /// RETR/TOP output still to send: the message as the store gave it and
    /// how far the encoder has got.
    struct OutgoingMessage {
        let bytes: [UInt8]
        var offset = 0
        var encoder: POP3MessageEncoder
    }

    /// Octets encoded per write: small against the write-buffer water marks.
    static let chunkSize = 16 * 1024

    static func metadata(_ message: POP3Message, number: Int) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["msg": "\(number)", "uid": "\(message.uid)", "unique": "\(message.uniqueID)"]
        if let queueID = message.queueID { metadata["id"] = "\(queueID)" }
        return metadata
    }

    func openMaildrop(user: String, context: ChannelHandlerContext) {
        guard server.locks.acquire(user) else {
            logger.notice("pop3 maildrop in use")
            return perform(session.maildropFailed(.inUse), context: context)
        }
        lockedUser = user
        let accounts = server.accounts
        work(context: context, { () async -> Result<OpenedMaildrop, MailStoreError> in
            do throws(MailStoreError) {
                let view = try accounts.account(for: user).open("INBOX")
                return .success(OpenedMaildrop(view: view, status: try await view.refresh(claimRecent: true)))
            } catch {
                return .failure(error)
            }
        }) { handler, context, result in
            handler.opened(result, context: context)
        }
    }

    private func opened(_ result: Result<OpenedMaildrop, MailStoreError>, context: ChannelHandlerContext) {
        switch result {
        case .success(let opened):
            mailbox = opened.view
            let validity = opened.status.uidValidity
            let messages = opened.status.messages.map { stored in
                POP3Message(uid: stored.uid, size: stored.size,
                            uniqueID: POP3Message.uniqueID(name: stored.uniqueName, fallback: "\(validity).\(stored.uid)"),
                            queueID: stored.queueID)
            }
            logger.info("pop3 maildrop opened", metadata: ["messages": "\(messages.count)"])
            perform(session.maildropOpened(messages), context: context)
        case .failure(let error):
            releaseMaildrop()
            logger.error("pop3 maildrop unavailable", metadata: ["error": "\(error)"])
            perform(session.maildropFailed(.unavailable), context: context)
        }
    }

    func releaseMaildrop() {
        if let user = lockedUser { server.locks.release(user) }
        lockedUser = nil
        mailbox = nil
    }

    func retrieve(_ message: POP3Message, number: Int, bodyLines: Int?, context: ChannelHandlerContext) {
        guard let mailbox else { return write(session.retrievalFailed(gone: false), context: context) }
        let uid = message.uid
        work(context: context, { () async -> Result<[UInt8], MailStoreError> in
            do throws(MailStoreError) {
                return .success(try await mailbox.contents(uid: uid))
            } catch {
                return .failure(error)
            }
        }) { handler, context, result in
            handler.retrieved(result, message: message, number: number, bodyLines: bodyLines, context: context)
        }
    }

    private func retrieved(_ result: Result<[UInt8], MailStoreError>, message: POP3Message, number: Int, bodyLines: Int?,
                           context: ChannelHandlerContext) {
        var metadata = Self.metadata(message, number: number)
        switch result {
        case .success(let bytes):
            if let bodyLines { metadata["lines"] = "\(bodyLines)" }
            logger.info(bodyLines == nil ? "pop3 retr" : "pop3 top", metadata: metadata)
            POP3ServerMetrics.retrieved.increment()
            write(session.retrievalReply(message, bodyLines: bodyLines), context: context)
            outgoing = OutgoingMessage(bytes: bytes, encoder: POP3MessageEncoder(bodyLines: bodyLines))
            pump(context: context)
        case .failure(let error):
            metadata["error"] = "\(error)"
            logger.warning("pop3 message unreadable", metadata: metadata)
            let gone = if case .noSuchMessage = error { true } else { false }
            write(session.retrievalFailed(gone: gone), context: context)
        }
    }

    /// Writes the message while the channel takes it; the rest follows when
    /// it drains (`channelWritabilityChanged`). Commands wait meanwhile.
    func pump(context: ChannelHandlerContext) {
        guard var message = outgoing else { return }
        paused = true
        while context.channel.isWritable {
            var encoder = message.encoder
            guard message.offset < message.bytes.count && !encoder.isComplete else {
                var buffer = context.channel.allocator.buffer(capacity: 8)
                encoder.finish(into: &buffer)
                write(buffer, context: context)
                outgoing = nil
                paused = false
                flush(context: context)
                return resume(context: context)
            }
            let end = min(message.bytes.count, message.offset + Self.chunkSize)
            var buffer = context.channel.allocator.buffer(capacity: end - message.offset + 64)
            message.bytes[message.offset..<end].withUnsafeBytes { encoder.encode($0, into: &buffer) }
            message.encoder = encoder
            message.offset = end
            write(buffer, context: context)
        }
        outgoing = message
        flush(context: context)
        armTimeout(context: context)
    }

    /// UPDATE (RFC 1939 §6). The expunge and its log lines happen even if
    /// the client hangs up right after QUIT.
    func update(_ messages: [POP3Message], context: ChannelHandlerContext) {
        guard let mailbox else { return perform(session.updateFinished(notRemoved: messages.count), context: context) }
        let logger = self.logger
        work(context: context, { () async -> Int in
            let removed: Set<UInt32>
            do throws(MailStoreError) {
                removed = Set(try await mailbox.expunge(uids: messages.map(\.uid)))
            } catch {
                logger.error("pop3 update failed", metadata: ["error": "\(error)"])
                removed = []
            }
            for message in messages {
                let metadata = Self.metadata(message, number: 0).filter { $0.key != "msg" }
                if removed.contains(message.uid) {
                    logger.info("pop3 deleted", metadata: metadata)
                } else {
                    logger.warning("pop3 delete failed", metadata: metadata)
                }
            }
            POP3ServerMetrics.deleted.increment(by: removed.count)
            return messages.count { !removed.contains($0.uid) }
        }) { handler, context, notRemoved in
            handler.perform(handler.session.updateFinished(notRemoved: notRemoved), context: context)
        }
    }
}
