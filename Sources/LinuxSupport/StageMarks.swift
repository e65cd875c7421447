/// Named points on the monotonic clock that one unit of work passed, in the order it passed them. Whoever reaches a
/// point marks it: the agent sets one for a job (`StageMarks.$current.withValue`), and the manager marks the spawn
/// inside it through the task-local without knowing what a job is. A task without one marks nothing.
package final class StageMarks: Sendable {
    @TaskLocal package static var current: StageMarks?

    private let marks = Locked<[(name: String, nanoseconds: UInt64)]>([])

    package init() {}

    /// Marks `name` now, or at `nanoseconds` (a time taken earlier, on `monotonicNanos()`).
    package func mark(_ name: String, at nanoseconds: UInt64 = monotonicNanos()) {
        marks.withLock { $0.append((name, nanoseconds)) }
    }

    /// Marks `name` on the current task's marks, if it has any.
    package static func mark(_ name: String) { current?.mark(name) }

    /// Each mark after the first with the nanoseconds since the one before it: where the time went.
    package var stages: [(name: String, nanoseconds: UInt64)] {
        let all = marks.withLock { $0 }
        return zip(all, all.dropFirst()).map { (previous, next) in
            (next.name, next.nanoseconds >= previous.nanoseconds ? next.nanoseconds - previous.nanoseconds : 0)
        }
    }
}
