import NIOCore

/// A deadline that moves on every step of a session (each command, reply or
/// written chunk), kept on one event loop. Cancelling and scheduling NIO's
/// task at every step cost ~50 k instructions per relayed message on each
/// side (issue #15); here a task is scheduled only when the deadline moves
/// earlier than the one already scheduled, and a task that fires before the
/// deadline schedules itself again for the rest.
///
/// Inlinable: used from other modules, the unspecialised generic code looked
/// up the metadata of its optionals at every move (~5 k instructions per
/// relayed message).
public struct MovingDeadline<Reason> {
    @usableFromInline var task: Scheduled<Void>?
    /// When `task` fires.
    @usableFromInline var taskFires = NIODeadline.distantFuture
    /// The deadline now, and what passing it means; nil: none.
    public var target: (at: NIODeadline, reason: Reason)? { current }
    @usableFromInline var current: (at: NIODeadline, reason: Reason)?

    @inlinable public init() {}

    /// Sets the deadline. `schedule` makes the task for a time (it must call
    /// `fired` when it runs); it is called only when no task fires by `at`.
    @inlinable
    public mutating func move(to at: NIODeadline, reason: Reason, schedule: (NIODeadline) -> Scheduled<Void>) {
        current = (at, reason)
        if task != nil && taskFires <= at { return }
        task?.cancel()
        taskFires = at
        task = schedule(at)
    }

    /// No deadline for now; the task already scheduled finds nothing to do.
    @inlinable
    public mutating func clear() {
        current = nil
    }

    /// No deadline and no task (the session ends: nothing may outlive it).
    @inlinable
    public mutating func cancel() {
        task?.cancel()
        task = nil
        current = nil
    }

    /// For the task: the reason once the deadline has passed; nil when there
    /// is none or it lies ahead (then a task is scheduled for it).
    @inlinable
    public mutating func fired(now: NIODeadline, schedule: (NIODeadline) -> Scheduled<Void>) -> Reason? {
        task = nil
        taskFires = .distantFuture
        guard let target = current else { return nil }
        guard target.at <= now else {
            taskFires = target.at
            task = schedule(target.at)
            return nil
        }
        current = nil
        return target.reason
    }
}
