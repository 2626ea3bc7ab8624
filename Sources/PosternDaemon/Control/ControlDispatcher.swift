import Delivery
import MailQueue

/// Turns a control request into a queue or quarantine operation and its
/// report into the reply.
enum ControlDispatcher {
    static func handle(_ request: ControlRequest, control: QueueControl, mover: QuarantineMover) async -> ControlReply {
        let operation: QueueControl.Operation
        switch request.command {
        case .ping: return ControlReply()
        case .reload: return .failure("reload is handled by the daemon, not the queue")
        case .quarantineRelease, .quarantineDelete:
            guard !request.ids.isEmpty else { return .failure("no messages named: give quarantine IDs") }
            let report = request.command == .quarantineRelease ? await mover.release(request.ids)
                                                               : await mover.delete(request.ids)
            return ControlReply(done: report.done, skipped: report.skipped.map { .init(id: $0.id, reason: $0.reason) },
                                notes: report.notes.isEmpty ? nil : report.notes)
        case .flush: operation = .flush
        case .hold: operation = .hold
        case .release: operation = .release
        case .delete: operation = .delete
        case .bounce: operation = .bounce
        case .requeue: operation = .requeue
        }
        var skipped: [ControlReply.Skipped] = []
        let selection: QueueControl.Selection
        if request.all {
            selection = .all
        } else if let domain = request.domain {
            selection = .domain(domain)
        } else if !request.ids.isEmpty {
            var ids: [QueueID] = []
            for text in request.ids {
                if let id = QueueID(text) { ids.append(id) } else { skipped.append(.init(id: text, reason: "not a queue ID")) }
            }
            selection = .ids(ids)
        } else {
            return .failure("no messages named: give queue IDs, --all or --domain")
        }
        let report = await control.perform(operation, on: selection)
        return ControlReply(done: report.done.map(\.description),
                            skipped: skipped + report.skipped.map { .init(id: $0.id, reason: $0.reason) })
    }
}
