import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// rspamd's normal worker: `POST /checkv2` with the message as the body and
/// the envelope in request headers (IP, Helo, From, one Rcpt per recipient,
/// Queue-Id, User, Hostname); the JSON reply carries the score, the
/// required score, the suggested action, the symbols and, in `milter`,
/// fields to add and remove (rspamd's "Protocol" documentation).
public struct RspamdScanner: ContentScanner {
    public let kind = "rspamd"
    public let address: ScannerAddress
    public let timeout: Double
    let group: EventLoopGroup

    public init(address: ScannerAddress, timeout: Double, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.address = address
        self.timeout = timeout
        self.group = group
    }

    func requestHead(_ request: ScanRequest, path: String, length: Int?) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: address.description)
        headers.add(name: "Connection", value: "close")
        if let length { headers.add(name: "Content-Length", value: String(length)) }
        func add(_ name: String, _ value: String?) {
            // Header values cannot hold line breaks (they would split the request).
            // (Scalars, not Characters: "\r\n" is one Character.)
            guard let value, !value.isEmpty, !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return }
            headers.add(name: name, value: value)
        }
        add("IP", request.clientIP)
        add("Helo", request.helo)
        add("From", request.sender)
        for recipient in request.recipients { add("Rcpt", recipient) }
        add("Queue-Id", request.queueID)
        add("User", request.user)
        add("Hostname", request.hostname)
        return HTTPRequestHead(version: .http1_1, method: length == nil ? .GET : .POST, uri: path, headers: headers)
    }

    public func scan(_ request: ScanRequest) async -> ScanVerdict {
        let message = request.message
        let head = requestHead(request, path: "/checkv2", length: message.size)
        do {
            let (status, body) = try await exchange(head) { out in
                try await message.forEachChunk(size: 64 * 1024) { try await out.write(.body(.byteBuffer(ByteBuffer(bytes: $0)))) }
            }
            guard status == .ok else { return .error("rspamd answered HTTP \(status.code)") }
            return Self.verdict(json: body)
        } catch {
            return .error("\(error)")
        }
    }

    public func ping() async -> Bool {
        let head = requestHead(ScanRequest(message: MessageSource(bytes: [])), path: "/ping", length: nil)
        guard let (status, body) = try? await exchange(head, { _ in }) else { return false }
        return status == .ok && String(decoding: body, as: UTF8.self).hasPrefix("pong")
    }

    private func exchange(_ head: HTTPRequestHead,
                          _ writeBody: @Sendable @escaping (NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>) async throws -> Void)
        async throws -> (HTTPResponseStatus, [UInt8]) {
        try await ScannerConnection.exchange(address: address, group: group, timeout: timeout, configure: { channel in
            try channel.pipeline.syncOperations.addHTTPClientHandlers()
        }) { (inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>, outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>) in
            try await outbound.write(.head(head))
            try await writeBody(outbound)
            try await outbound.write(.end(nil))
            var status: HTTPResponseStatus?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let response): status = response.status
                case .body(var buffer):
                    body += buffer.readBytes(length: buffer.readableBytes) ?? []
                    guard body.count <= 4 << 20 else { throw ScanError.protocolError("rspamd reply over 4 MiB") }
                case .end: return (status ?? .internalServerError, body)
                }
            }
            throw ScanError.protocolError("rspamd closed the connection mid-reply")
        }
    }

    /// The /checkv2 JSON reply.
    static func verdict(json: [UInt8]) -> ScanVerdict {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
            return .error("rspamd reply is not a JSON object")
        }
        if let error = object["error"] as? String { return .error("rspamd: \(error)") }
        guard let score = (object["score"] as? NSNumber)?.doubleValue,
              let required = (object["required_score"] as? NSNumber)?.doubleValue,
              let actionText = object["action"] as? String else {
            return .error("rspamd reply lacks score, required_score or action")
        }
        guard SpamReport.isPlausible(score), SpamReport.isPlausible(required) else { return .error("rspamd score out of range") }
        guard let action = SpamReport.Action(rawValue: actionText) else { return .error("rspamd action \"\(actionText)\" unknown") }
        let symbols = ((object["symbols"] as? [String: Any]) ?? [:]).keys.filter { SpamReport.isSymbol(Substring($0)) }.sorted()
        var addHeaders: [(name: String, value: String)] = []
        var removeHeaders: [String] = []
        if let milter = object["milter"] as? [String: Any] {
            // add_headers: {"Name": "value"} or {"Name": {"value": "…", "order": 0}} or a list of those.
            for (name, spec) in ((milter["add_headers"] as? [String: Any]) ?? [:]).sorted(by: { $0.key < $1.key }) {
                for item in (spec as? [Any]) ?? [spec] {
                    if let value = item as? String { addHeaders.append((name, value)) }
                    else if let value = (item as? [String: Any])?["value"] as? String { addHeaders.append((name, value)) }
                }
            }
            removeHeaders = ((milter["remove_headers"] as? [String: Any]) ?? [:]).keys.sorted()
        }
        let isSpam = action == .reject || action == .addHeader || action == .rewriteSubject || action == .softReject
        return .scored(SpamReport(score: score, threshold: required, isSpam: isSpam, symbols: symbols, action: action,
                                  addHeaders: addHeaders, removeHeaders: removeHeaders, subject: object["subject"] as? String))
    }
}
