/// What happened to a target without a caller asking: subscribers publish these.
package enum ManagerEvent: Sendable, Equatable {
    case mounted(targetID: String, pid: Int32, mountPath: String)
    case unmounted(targetID: String, pid: Int32?, mountPath: String?)
    case adopted(targetID: String, pid: Int32, mountPath: String)
    /// A stale PID file or a mount nobody served was removed.
    case staleCleaned(targetID: String?, path: String, detail: String)
    /// A live mount or process not proven this agent's was left alone (never unmounted or signalled).
    case leftAlone(targetID: String?, path: String, detail: String)
    /// The process exited while nobody was stopping it.
    case crashed(targetID: String, pid: Int32, mountPath: String, detail: String)
}
