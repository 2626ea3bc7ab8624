import Foundation
import MailQueue

extension Envelope {
    /// Records one delivery run in the history: recipients that went to the
    /// same next hop with the same result and reply share one entry.
    mutating func recordAttempts(_ results: [(index: Int, outcome: RecipientOutcome, nextHop: String?)], at time: Date) {
        var groups: [Attempt] = []
        for (index, outcome, nextHop) in results.sorted(by: { $0.index < $1.index }) {
            let (result, reply): (Attempt.Result, String) = switch outcome {
            case .delivered(let reply): (.delivered, "\(reply)")
            case .deferred(let reason): (.deferred, reason.description)
            case .failed(let reason): (.failed, reason.description)
            }
            if let at = groups.firstIndex(where: { $0.result == result && $0.nextHop == nextHop && $0.reply == reply }) {
                groups[at].recipients.append(index)
            } else {
                groups.append(Attempt(time: time, result: result, nextHop: nextHop, recipients: [index], reply: reply))
            }
        }
        groups.forEach { record($0) }
    }
}
