import NIOCore

/// A deadline that moves on every step of a session (each command, reply or
/// written chunk), kept on one event loop. Cancelling and scheduling NIO's
/// task at every step cost ~50 k instructions per relayed message on each
/// side (issue #15); here a task is scheduled only when the deadline moves
/// earlier than the one already scheduled, and a task that fires before the
/// deadline schedules itself again for the rest.
public struct MovingDeadline<Reason> {
    private var task: Scheduled<Void>?
    /// When `task` fires.
    private var taskFires = NIODeadline.distantFuture
    /// The deadline now, and what passing it means; nil: none.
    public private(set) var target: (at: NIODeadline, reason: Reason)?

    public init() {}

    /// Sets the deadline. `schedule` makes the task for a time (it must call
    /// `fired` when it runs); it is called only when no task fires by `at`.
    public mutating func move(to at: NIODeadline, reason: Reason, schedule: (NIODeadline) -> Scheduled<Void>) {
        target = (at, reason)
        if task != nil && taskFires <= at { return }
        task?.cancel()
        taskFires = at
        task = schedule(at)
    }

    /// No deadline for now; the task already scheduled finds nothing to do.
    public mutating func clear() {
        target = nil
    }

    /// No deadline and no task (the session ends: nothing may outlive it).
    public mutating func cancel() {
        task?.cancel()
        task = nil
        target = nil
    }

    /// For the task: the reason once the deadline has passed; nil when there
    /// is none or it lies ahead (then a task is scheduled for it).
    public mutating func fired(now: NIODeadline, schedule: (NIODeadline) -> Scheduled<Void>) -> Reason? {
        task = nil
        taskFires = .distantFuture
        guard let target else { return nil }
        guard target.at <= now else {
            taskFires = target.at
            task = schedule(target.at)
            return nil
        }
        self.target = nil
        return target.reason
    }
}
